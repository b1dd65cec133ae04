"""ExecuTorch artifacts (``.pte``): PyTorch's maintained edge path, lowered to the XNNPACK backend.

FP32: ``torch.export`` then ``to_edge_transform_and_lower`` with the XNNPACK partitioner. INT8: PT2E
with the XNNPACK quantizer (int8 weights per-channel symmetric, int8 activations, histogram observers),
calibrated on the export's calibration set, then lowered the same way. The batch axis is dynamic up to ``MAX_BATCH``
(ExecuTorch plans memory for the upper bound). The petface metadata (contract, fingerprint) is inside
the program: a constant method ``petface_metadata`` returns its JSON as a uint8 tensor.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Callable, Iterable, Optional

import numpy as np
import torch

from petface_edge.runtime.manifest import InputContract, OutputContract

from .context import Built, Context
from .formats import MIXED_CHECK
from .verify import STEM_CONVS, cosine_stats, meets, search_recipes

INPUT, OUTPUT = "pixels", "embedding"
MAX_BATCH = 32  # the Embedder's default max_batch: larger batches run in slices
METADATA_METHOD = "petface_metadata"
# The convs / linears / batch norms that carry weights: the tail after the last of them (flatten and
# L2 normalization) stays float in every recipe. Int8 buys nothing there (the output is float anyway),
# and on a weakly trained net the squared-norm sum loses all precision in int8 (cosine 0 to FP32).
WEIGHTED = ("aten.conv2d.default", "aten.linear.default", "aten.batch_norm.default")
# PT2E recipes, best first (kept by verify.RECIPE_CHECK, as for the other formats). The second keeps
# the full-resolution stem float too, where per-layer SQNR shows int8 losing most (see export/to_onnx.py).
# The mixed fallback: blocks ranked on this many calibration images, at most this many kept float.
SENSITIVITY_IMAGES = 32
MAX_FLOAT_BLOCKS = 4
INT8_RECIPES = (
    {"name": "xnnpack-per-channel-symmetric-float-l2norm", "float": "tail"},
    {"name": "xnnpack-per-channel-symmetric-float-l2norm-and-stem", "float": "tail+stem"},
)


def contracts(image_size: int, dim: int) -> tuple[InputContract, OutputContract]:
    return InputContract(INPUT, "NCHW", "float32", image_size), OutputContract(OUTPUT, "float32", dim)


def exported(model: torch.nn.Module, image_size: int) -> torch.export.ExportedProgram:
    """``torch.export`` with a dynamic batch axis (1..MAX_BATCH); a PT2E graph module is already in eval mode."""
    example = (torch.zeros(2, 3, image_size, image_size),)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    if not isinstance(model, torch.fx.GraphModule):
        model = model.eval()
    return torch.export.export(model, example, dynamic_shapes=({0: batch},))


def quantizer(is_qat: bool = False):
    """The XNNPACK quantizer, int8 per-channel symmetric weights (the issue's recipe).

    Its static activation observer is a HistogramObserver (ranges that minimize the L2 quantization error,
    which clips rare outliers). Kept by measurement against the other PT2E observers on the 4-epoch
    MobileFaceNet-112 (120 synthetic pets), PyTorch simulation, 1st-percentile cosine to FP32 on the
    calibration images / the test split: histogram 0.9930 / 0.9950, moving-average min-max 0.9887 / 0.9878,
    plain min-max 0.9853 / 0.9850. QAT (``is_qat``) uses fused moving-average fake-quant, as PT2E QAT must.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=is_qat))


def float_node_names(graph: torch.fx.Graph, keep: str) -> set[str]:
    """Names of the nodes a recipe keeps float: "tail" is everything after the last weighted op (flatten and
    L2 normalization); "tail+stem" adds the first ``STEM_CONVS`` convs and every node before the next one."""
    nodes = list(graph.nodes)
    weighted = [i for i, n in enumerate(nodes) if str(n.target) in WEIGHTED]
    convs = [i for i, n in enumerate(nodes) if str(n.target) == "aten.conv2d.default"]
    kept = nodes[weighted[-1] + 1:]
    if "stem" in keep:
        kept += nodes[:convs[min(STEM_CONVS, len(convs) - 1)]]
    return {n.name for n in kept if n.op == "call_function"}


def keeping_float(inner, names: Iterable[str]):
    """A quantizer that annotates like ``inner`` except the nodes in ``names``, which stay float.

    A node whose annotation shares its range with a float node (``SharedQuantizationSpec``, e.g. the op
    after a float conv) goes float too: the range it would share does not exist.
    """
    from torchao.quantization.pt2e.quantizer import Quantizer, SharedQuantizationSpec

    names = set(names)

    def shares_with_float(node: torch.fx.Node) -> bool:
        note = node.meta.get("quantization_annotation")
        specs = [] if note is None else [note.output_qspec, *note.input_qspec_map.values()]
        for spec in specs:
            if isinstance(spec, SharedQuantizationSpec):
                ref = spec.edge_or_node
                if any(n.name in names for n in (ref if isinstance(ref, tuple) else (ref,))):
                    return True
        return False

    class _KeepFloat(Quantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            inner.annotate(model)
            for node in model.graph.nodes:
                if node.name in names:
                    node.meta.pop("quantization_annotation", None)
            changed = True
            while changed:
                changed = False
                for node in model.graph.nodes:
                    if node.name not in names and shares_with_float(node):
                        node.meta.pop("quantization_annotation", None)
                        names.add(node.name)
                        changed = True
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            inner.validate(model)

    return _KeepFloat()


def quantize_ptq(graph_module: torch.fx.GraphModule, batches: Iterable[torch.Tensor], float_nodes: set[str]
                 ) -> torch.fx.GraphModule:
    """PT2E post-training quantization of a copy of ``exported(...).module()``: prepare, observe ``batches``,
    convert (a float-simulated int8 module)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(copy.deepcopy(graph_module), keeping_float(quantizer(), float_nodes))
    with torch.no_grad():
        for batch in batches:
            prepared(batch)
    return convert_pt2e(prepared)


def lower(module: torch.nn.Module | torch.export.ExportedProgram, image_size: int, metadata: dict[str, str]) -> bytes:
    """Lower to XNNPACK and serialize; the metadata JSON rides along as a constant method."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    blob = torch.frombuffer(bytearray(json.dumps(metadata).encode()), dtype=torch.uint8)
    program = module if isinstance(module, torch.export.ExportedProgram) else exported(module, image_size)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                       constant_methods={METADATA_METHOD: blob})
    return edge.to_executorch().buffer


def _save(ctx: Context, module: torch.nn.Module | torch.export.ExportedProgram, precision: str, quantized: str, notes: Optional[dict] = None
          ) -> Built:
    from executorch.version import __version__ as executorch_version

    inp, out = contracts(ctx.image_size, int(ctx.info["embedding_dim"]))
    path = ctx.path(f"pet_embedder_{precision}.pte")
    path.write_bytes(lower(module, ctx.image_size, ctx.metadata(precision, inp, out)))
    tools = {"torch": torch.__version__, "executorch": executorch_version, "backend": "XnnpackBackend",
             "max_batch": MAX_BATCH}
    return Built(path, inp, out, quantized, tools, notes or {})


def build_fp32(ctx: Context) -> Built:
    return _save(ctx, ctx.model, "fp32", "nothing: float32 weights and activations (XNNPACK)")


def _embed(module: Callable, ctx: Context, calib=None) -> np.ndarray:
    """``module`` on the calibration images (train split: no held-out leak), in batches the program accepts."""
    from petface_edge.calibration.feeds import torch_batches

    with torch.no_grad():
        return np.concatenate([module(x).numpy() for x in torch_batches(calib or ctx.calibration, MAX_BATCH)])


def build_int8(ctx: Context) -> Built:
    from petface_edge.calibration.feeds import torch_batches

    reference = _embed(ctx.model, ctx)
    if ctx.job.get("qat_program"):  # export.qat's graph: converted with the ranges it was tuned on
        import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401  (registers the quantized ops it references)

        program = torch.export.load(ctx.job["qat_program"])
        stats = cosine_stats(reference, _embed(program.module(), ctx))
        quantized = ("int8 weights (per-channel, symmetric) and int8 activations (histogram ranges on the calibration "
                     "set, held fixed) after quantization-aware fine-tuning (PT2E QAT, XNNPACKQuantizer); float: "
                     "flatten and L2 normalization; input and output float32")
        return _save(ctx, program, "int8", quantized, {"recipe": "xnnpack-per-channel-symmetric-qat-float-l2norm",
                                                       "self_check": stats})
    graph_module = exported(ctx.model, ctx.image_size).module()

    def build(recipe: dict) -> tuple[torch.nn.Module, dict]:
        q = quantize_ptq(graph_module, torch_batches(ctx.calibration),
                         float_node_names(graph_module.graph, recipe["float"]))
        return q, cosine_stats(reference, _embed(q, ctx))

    best, module, tried = search_recipes(INT8_RECIPES, build)
    kept = {"tail": "flatten and L2 normalization",
            "tail+stem": f"the stem (the first {STEM_CONVS} convs and the ops between them), flatten and L2 "
                         "normalization"}[best["float"]]
    quantized = (f"int8 weights (per-channel, symmetric) and int8 activations (PT2E XNNPACKQuantizer, histogram "
                 f"observers on {len(ctx.calibration)} images); float: {kept}; input and output float32")
    return _save(ctx, module, "int8", quantized, {"recipe": best["name"], "tried": tried})


def blocks(graph: torch.fx.Graph) -> dict[str, set[str]]:
    """The graph's call nodes by the network block they come from (``features.3``, ``gdconv``, ...), in order;
    a batch norm goes with the conv it follows (PT2E folds them into one quantized op). The tail (flatten,
    L2 normalization) is left out: it is float in every recipe."""
    tail = float_node_names(graph, "tail")
    out: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    for node in graph.nodes:
        if node.op != "call_function" or node.name in tail:
            continue
        stack = list(node.meta.get("nn_module_stack", {}).values())
        path = stack[-1][0].split(".") if stack and stack[-1][0] else ["input normalization"]
        block = ".".join(path[:2] if path[0] == "features" else path[:1])
        if str(node.target) == "aten.batch_norm.default" and getattr(node.args[0], "name", None) in owner:
            block = owner[node.args[0].name]
        owner[node.name] = block
        out.setdefault(block, set()).add(node.name)
    return out


def build_int8_mixed(ctx: Context) -> Built:
    """Sensitivity-guided fallback, built when the full-integer ``executorch-int8`` missed its gate.

    Each block's sensitivity is the 1st-percentile cosine gained when that block alone stays float (on a
    subset of the calibration images, against the float model); blocks are kept float most sensitive first
    until ``formats.MIXED_CHECK`` passes (at most ``MAX_FLOAT_BLOCKS``; else the best). Never shipped under
    the full-integer name.
    """
    from petface_edge.calibration.feeds import torch_batches

    reference = _embed(ctx.model, ctx)
    calib = ctx.calibration
    every = np.linspace(0, len(calib) - 1, min(SENSITIVITY_IMAGES, len(calib))).astype(int)  # spread over identities
    sample = dataclasses.replace(calib, pixels=calib.pixels[every], sources=[calib.sources[i] for i in every],
                                 labels=[calib.labels[i] for i in every])
    sample_reference = _embed(ctx.model, ctx, sample)
    graph_module = exported(ctx.model, ctx.image_size).module()
    parts = blocks(graph_module.graph)
    tail = float_node_names(graph_module.graph, "tail")

    def quantized(keep: Iterable[str], calib) -> torch.fx.GraphModule:
        names = set(tail).union(*(parts[b] for b in keep))
        return quantize_ptq(graph_module, torch_batches(calib, MAX_BATCH), names)

    base = cosine_stats(sample_reference, _embed(quantized([], sample), ctx, sample))["cos_p1"]
    gain = {b: cosine_stats(sample_reference, _embed(quantized([b], sample), ctx, sample))["cos_p1"] - base
            for b in parts}
    ranked = sorted(gain, key=gain.get, reverse=True)[:MAX_FLOAT_BLOCKS]
    tried = []
    for n in range(1, len(ranked) + 1):
        module = quantized(ranked[:n], ctx.calibration)
        stats = cosine_stats(reference, _embed(module, ctx))
        tried.append({"name": f"float {', '.join(ranked[:n])}", "float_blocks": ranked[:n], **stats})
        if meets(stats, MIXED_CHECK):
            break
    best = tried[-1] if meets(tried[-1], MIXED_CHECK) else max(tried, key=lambda t: t["cos_p1"])
    kept = best["float_blocks"]
    module = quantized(kept, ctx.calibration) if best is not tried[-1] else module
    quantized_words = (f"int8 weights (per-channel, symmetric) and int8 activations (PT2E XNNPACKQuantizer, histogram "
                       f"observers on {len(ctx.calibration)} images) except float blocks {', '.join(kept)}, flatten and "
                       "L2 normalization; input and output float32")
    notes = {"recipe": "xnnpack-per-channel-symmetric-mixed", "float_layers": kept,
             "sensitivity": {"measure": f"cos_p1 gained when the block alone stays float ({len(sample)} calibration "
                                        "images)", "full_integer_cos_p1": base,
                             "gain": {b: round(g, 6) for b, g in sorted(gain.items(), key=lambda kv: -kv[1])}},
             "tried": tried}
    return _save(ctx, module, "int8-mixed", quantized_words, notes)


BUILDERS = {"fp32": build_fp32, "int8": build_int8, "int8-mixed": build_int8_mixed}
