"""Quantization-aware fine-tuning (PT2E QAT) before INT8 conversion: ``petface-export --int8 --qat-epochs N``.

Why in export and not in training: the INT8 gate is what QAT is for, and it is measured here; one
command tunes once and feeds every INT8 converter (ExecuTorch takes the QAT graph itself, the others
re-calibrate from its float weights); the FP32 / FP16 artifacts and the fingerprint stay those of the
trained checkpoint, so galleries enrolled with them stay valid.

The objective is distillation, not ArcFace: the fake-quantized student learns to reproduce the FP32
embedder's own vectors (1 - cosine) on the run's train split, with the training augmentation. The gate
compares INT8 embeddings with exactly those vectors, and a classification loss would move the embedding
space that enrolled galleries and thresholds were built in. Fake-quant follows the XNNPACK quantizer
(int8 per-channel symmetric weights, int8 activations; flatten and L2 normalization float, as in PTQ).

The graph is exported in train mode, as PT2E QAT expects: only there does ``prepare_qat_pt2e`` find the
conv + BatchNorm pairs and simulate their folding, so fake-quant sees the weights ``convert_pt2e`` deploys
(conv weight x gamma / running std). It moves to eval mode before the first step: BatchNorm normalizes with
its trained running statistics, frozen (batches of augmented train images would drag them, and the student
would start away from its teacher), while the fold simulation stays. Activation ranges are PTQ's: a
HistogramObserver on the calibration set, held fixed, so QAT starts where PTQ ends and the weights learn
those ranges; weight ranges keep tracking the weights and are frozen for the last epoch.

Measured on the 4-epoch MobileFaceNet-112 (120 synthetic pets), the converted QAT graph in PyTorch
simulation, cosine mean / p1 to FP32 on the test split (PTQ: 0.9978 / 0.9950):
- PT2E's own QAT observer (moving-average min-max), ranges set on the calibration set: starts at
  0.9952 / 0.9858, and 2 epochs at Adam 1e-4 end at 0.9940 / 0.9855 (ranges then frozen) or 0.9939 / 0.9834
  (ranges tracking, the export's executorch-int8): QAT starts behind PTQ and stays there;
- histogram ranges (this module): starts at 0.9978 / 0.9947, i.e. at PTQ;
- then 2 epochs at Adam 1e-4: 0.9963 / 0.9909 (0.9971 / 0.9934 on un-augmented images): Adam's first steps
  move every weight by about the learning rate (epoch-1 distillation loss 0.020, against 0.0029 at 1e-5);
- at 1e-5 (``LR``): 0.9979 / 0.9945, Recall@1 and verification accuracy no worse than at the start.
On a model that PTQ already quantizes well there is nothing for QAT to recover; it must not cost anything.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .to_executorch import exported, float_node_names, keeping_float, quantizer

LR = 1e-5  # measured against 1e-4: see the module docstring
BATCH = 32
SEED = 0


@dataclass
class QatResult:
    """The tuned float embedder (for re-calibrating converters), the converted int8 graph, and the record."""

    float_model: torch.nn.Module
    int8_module: torch.fx.GraphModule
    record: dict = field(default_factory=dict)


def _train_images(data_dir: Path, splits: Path, image_size: int):
    from petface_edge.data import load_splits
    from petface_edge.train.datasets import TrainImages

    items = load_splits(splits).get("train", [])
    if not items:
        raise ValueError(f"{splits}: the train split is empty; quantization-aware fine-tuning needs it")
    return TrainImages([Path(data_dir) / rel for rel, _ in items], [0] * len(items), image_size, SEED)


def _batches(images, epoch: int, rng: np.random.Generator):
    images.set_epoch(epoch)
    order = rng.permutation(len(images))
    for i in range(0, len(order), BATCH):
        chosen = order[i: i + BATCH]
        if len(chosen) < 2:  # BatchNorm in train mode needs two samples
            continue
        yield torch.stack([images[int(j)][0] for j in chosen]).float()


def _activation_fake_quants(student: torch.fx.GraphModule) -> list[torch.nn.Module]:
    from torchao.quantization.pt2e.fake_quantize import FakeQuantizeBase

    return [m for m in student.modules() if isinstance(m, FakeQuantizeBase) and m.qscheme == torch.per_tensor_affine]


def student_graph(model: torch.nn.Module, image_size: int, calibration: torch.Tensor) -> torch.fx.GraphModule:
    """The fake-quantized copy of ``model`` that QAT trains: exported in train mode (conv + BatchNorm fold
    simulated), moved to eval mode (BatchNorm on its running statistics), activation ranges set as PTQ sets
    them (a HistogramObserver on ``calibration``) and held fixed; weight ranges keep tracking the weights."""
    from torchao.quantization.pt2e import HistogramObserver, disable_fake_quant, enable_fake_quant, \
        move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    # min 2: a train-mode graph specializes a batch of 1 (BatchNorm needs two values per channel).
    batch = torch.export.Dim("batch", min=2, max=max(BATCH, len(calibration)))
    graph = torch.export.export(copy.deepcopy(model).train(), (torch.zeros(2, 3, image_size, image_size),),
                                dynamic_shapes=({0: batch},)).module()
    student = prepare_qat_pt2e(graph, keeping_float(quantizer(is_qat=True), float_node_names(graph.graph, "tail")))
    move_exported_model_to_eval(student)
    histograms, hooks = [], []
    for fq in _activation_fake_quants(student):
        obs = fq.activation_post_process
        histograms.append((fq, HistogramObserver(dtype=obs.dtype, qscheme=obs.qscheme, quant_min=obs.quant_min,
                                                 quant_max=obs.quant_max, eps=float(obs.eps))))
        hooks.append(fq.register_forward_pre_hook(lambda _, args, h=histograms[-1][1]: h(args[0].detach())))
    student.apply(disable_fake_quant)
    with torch.no_grad():
        student(calibration)  # weight observers see the folded weights; histograms see every activation
    for hook in hooks:
        hook.remove()
    for fq, histogram in histograms:  # convert_pt2e reads the observer's range: it gets the histogram's
        obs = fq.activation_post_process
        low, high = histogram._non_linear_param_search()
        obs.min_val.copy_(low)
        obs.max_val.copy_(high)
        scale, zero_point = obs.calculate_qparams()
        fq.scale.copy_(scale)
        fq.zero_point.copy_(zero_point)
        fq.disable_observer()
    student.apply(enable_fake_quant)
    return student


def finetune(model: torch.nn.Module, image_size: int, data_dir: Path, splits: Path, epochs: int,
             calibration: torch.Tensor, lr: float = LR, log=None) -> QatResult:
    """``epochs`` of fake-quant distillation from :func:`student_graph`; returns the tuned models and a record.

    ``calibration``: the export's calibration images, (N, 3, S, S) float 0..255, where ranges start.
    """
    from torchao.quantization.pt2e import disable_observer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    teacher = model.eval()
    images = _train_images(data_dir, splits, image_size)
    student = student_graph(model, image_size, calibration)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    steps = max(1, epochs * -(-len(images) // BATCH))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    history, start = [], time.perf_counter()
    for epoch in range(epochs):
        if epoch == epochs - 1 and epochs > 1:
            student.apply(disable_observer)  # ranges frozen for the last epoch
        losses = []
        for x in _batches(images, epoch, rng):
            with torch.no_grad():
                target = teacher(x)
            loss = (1 - torch.nn.functional.cosine_similarity(student(x), target)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        history.append(round(float(np.mean(losses)), 6))
        if log:
            log(f"QAT epoch {epoch + 1}/{epochs}: distillation loss (1 - cosine) {history[-1]:.5f}")
    tuned = copy.deepcopy(model)
    state = student.state_dict()
    missing = [k for k in tuned.state_dict() if k not in state]
    if missing:  # a renamed weight would silently ship untuned
        raise RuntimeError(f"the QAT graph lost the model's weight names: {', '.join(missing[:5])}")
    tuned.load_state_dict({k: state[k] for k in tuned.state_dict()})
    record = {"method": "qat", "epochs": epochs, "lr": lr, "batch": BATCH, "images": len(images),
              "objective": "distillation to the FP32 embedder (1 - cosine), training augmentation",
              "quantizer": "PT2E XNNPACKQuantizer, per-channel symmetric int8 weights, int8 activations",
              "graph": "exported in train mode (conv + BatchNorm fold simulated), BatchNorm statistics frozen; "
                       f"activation ranges from a HistogramObserver on {len(calibration)} calibration images, fixed",
              "loss_per_epoch": history, "seconds": round(time.perf_counter() - start, 1)}
    return QatResult(tuned.eval(), convert_pt2e(student), record)


QAT_CHECKPOINT = "pet_embedder_qat.pt"


def tuned_job(model: torch.nn.Module, job: dict, data_dir: Path, splits: Path, epochs: int, output_dir: Path,
              work: Path, log=None) -> tuple[dict, dict]:
    """Fine-tune, store the tuned float weights beside the artifacts and the int8 graph in ``work``.

    Returns (the converter job for INT8 variants: the tuned checkpoint, plus ``qat_program`` that the
    ExecuTorch converter lowers as is; the record for the manifest).
    """
    from petface_edge.models import save_embedder
    from petface_edge.runtime.manifest import artifact_digest

    from petface_edge.calibration import load

    calibration = torch.from_numpy(load(job["calibration"]).pixels.transpose(0, 3, 1, 2).astype(np.float32))
    result = finetune(model, int(job["image_size"]), data_dir, splits, epochs, calibration, log=log)
    checkpoint = save_embedder(result.float_model, output_dir / QAT_CHECKPOINT, qat=result.record)
    program = work / "qat_int8.pt2"
    torch.export.save(exported(result.int8_module, int(job["image_size"])), program)
    record = {**result.record, "checkpoint": QAT_CHECKPOINT, "checkpoint_sha256": artifact_digest(checkpoint)[1],
              "feeds": "ExecuTorch: the QAT graph itself (the ranges it was tuned on); other formats: re-calibrated "
                       "from the QAT-tuned float weights"}
    return {**job, "checkpoint": str(checkpoint.resolve()), "qat_program": str(program)}, record
