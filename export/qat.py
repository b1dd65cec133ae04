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
would start away from its teacher), while the fold simulation stays. Activation ranges start from the
calibration set seen in one batch (the first observation sets them, as PTQ's would), not from the first
augmented batch, which the observers' slow moving average (constant 0.01) would keep for most of a short
run; they keep tracking, and are frozen for the last epoch so the weights finish on fixed ranges.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .to_executorch import exported, float_node_names, keeping_float, quantizer

LR = 1e-4
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


def student_graph(model: torch.nn.Module, image_size: int, calibration: torch.Tensor) -> torch.fx.GraphModule:
    """The fake-quantized copy of ``model`` that QAT trains: exported in train mode (conv + BatchNorm fold
    simulated), moved to eval mode (BatchNorm on its running statistics), ranges set on ``calibration``."""
    from torchao.quantization.pt2e import disable_fake_quant, enable_fake_quant, move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    # min 2: a train-mode graph specializes a batch of 1 (BatchNorm needs two values per channel).
    batch = torch.export.Dim("batch", min=2, max=max(BATCH, len(calibration)))
    graph = torch.export.export(copy.deepcopy(model).train(), (torch.zeros(2, 3, image_size, image_size),),
                                dynamic_shapes=({0: batch},)).module()
    student = prepare_qat_pt2e(graph, keeping_float(quantizer(is_qat=True), float_node_names(graph.graph, "tail")))
    move_exported_model_to_eval(student)
    student.apply(disable_fake_quant)
    with torch.no_grad():
        student(calibration)
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
                       f"activation ranges initialized on {len(calibration)} calibration images",
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
              "feeds": "ExecuTorch: the QAT graph itself (learned ranges); other formats: re-calibrated from the "
                       "QAT-tuned float weights"}
    return {**job, "checkpoint": str(checkpoint.resolve()), "qat_program": str(program)}, record
