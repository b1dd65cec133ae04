"""ExecuTorch artifacts (``.pte``): PyTorch's maintained edge path, lowered to the XNNPACK backend.

FP32: ``torch.export`` then ``to_edge_transform_and_lower`` with the XNNPACK partitioner. INT8: PT2E
with the XNNPACK quantizer (int8 weights per-channel symmetric, int8 activations), calibrated on the
export's calibration set, then lowered the same way. The batch axis is dynamic up to ``MAX_BATCH``
(ExecuTorch plans memory for the upper bound). The petface metadata (contract, fingerprint) is inside
the program: a constant method ``petface_metadata`` returns its JSON as a uint8 tensor.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable, Optional

import numpy as np
import torch

from petface_edge.runtime.manifest import InputContract, OutputContract

from .context import Built, Context
from .verify import STEM_CONVS, cosine_stats, search_recipes

INPUT, OUTPUT = "pixels", "embedding"
MAX_BATCH = 32  # the Embedder's default max_batch: larger batches run in slices
METADATA_METHOD = "petface_metadata"
# The convs / linears / batch norms that carry weights: the tail after the last of them (flatten and
# L2 normalization) stays float in every recipe. Int8 buys nothing there (the output is float anyway),
# and on a weakly trained net the squared-norm sum loses all precision in int8 (cosine 0 to FP32).
WEIGHTED = ("aten.conv2d.default", "aten.linear.default", "aten.batch_norm.default")
# PT2E recipes, best first (kept by verify.RECIPE_CHECK, as for the other formats). The second keeps
# the full-resolution stem float too, where per-layer SQNR shows int8 losing most (see export/to_onnx.py).
INT8_RECIPES = (
    {"name": "xnnpack-per-channel-symmetric-float-l2norm", "float": "tail"},
    {"name": "xnnpack-per-channel-symmetric-float-l2norm-and-stem", "float": "tail+stem"},
)


def contracts(image_size: int, dim: int) -> tuple[InputContract, OutputContract]:
    return InputContract(INPUT, "NCHW", "float32", image_size), OutputContract(OUTPUT, "float32", dim)


def exported(model: torch.nn.Module, image_size: int) -> torch.export.ExportedProgram:
    """``torch.export`` with a dynamic batch axis (1..MAX_BATCH)."""
    example = (torch.zeros(2, 3, image_size, image_size),)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return torch.export.export(model.eval(), example, dynamic_shapes=({0: batch},))


def quantizer(is_qat: bool = False):
    """The XNNPACK quantizer, int8 per-channel symmetric weights (the issue's recipe)."""
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
    """A quantizer that annotates like ``inner`` except the nodes in ``names``, which stay float."""
    from torchao.quantization.pt2e.quantizer import Quantizer

    names = set(names)

    class _KeepFloat(Quantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            inner.annotate(model)
            for node in model.graph.nodes:
                if node.name in names:
                    node.meta.pop("quantization_annotation", None)
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            inner.validate(model)

    return _KeepFloat()


def quantize_ptq(model: torch.nn.Module, image_size: int, batches: Iterable[torch.Tensor],
                 float_nodes: Callable[[torch.fx.Graph], set[str]]) -> torch.fx.GraphModule:
    """PT2E post-training quantization: prepare, observe ``batches``, convert (a float-simulated int8 module)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph_module = exported(model, image_size).module()
    prepared = prepare_pt2e(graph_module, keeping_float(quantizer(), float_nodes(graph_module.graph)))
    with torch.no_grad():
        for batch in batches:
            prepared(batch)
    return convert_pt2e(prepared)


def lower(module: torch.nn.Module, image_size: int, metadata: dict[str, str]) -> bytes:
    """Lower to XNNPACK and serialize; the metadata JSON rides along as a constant method."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    blob = torch.frombuffer(bytearray(json.dumps(metadata).encode()), dtype=torch.uint8)
    edge = to_edge_transform_and_lower(exported(module, image_size), partitioner=[XnnpackPartitioner()],
                                       constant_methods={METADATA_METHOD: blob})
    return edge.to_executorch().buffer


def _save(ctx: Context, module: torch.nn.Module, precision: str, quantized: str, notes: Optional[dict] = None
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


def _calibration_check(ctx: Context) -> tuple[torch.Tensor, np.ndarray]:
    """The calibration images (train split) as NCHW floats and the float model's embeddings of them."""
    from petface_edge.calibration.feeds import nchw_float

    x = torch.from_numpy(nchw_float(ctx.calibration))
    with torch.no_grad():
        return x, ctx.model(x).numpy()


def build_int8(ctx: Context) -> Built:
    from petface_edge.calibration.feeds import torch_batches

    x, reference = _calibration_check(ctx)

    def build(recipe: dict) -> tuple[torch.nn.Module, dict]:
        q = quantize_ptq(ctx.model, ctx.image_size, torch_batches(ctx.calibration),
                         lambda g: float_node_names(g, recipe["float"]))
        with torch.no_grad():
            return q, cosine_stats(reference, q(x).numpy())

    best, module, tried = search_recipes(INT8_RECIPES, build)
    kept = {"tail": "flatten and L2 normalization",
            "tail+stem": f"the stem (the first {STEM_CONVS} convs and the ops between them), flatten and L2 "
                         "normalization"}[best["float"]]
    quantized = (f"int8 weights (per-channel, symmetric) and int8 activations (PT2E XNNPACKQuantizer, MinMax "
                 f"observers on {len(ctx.calibration)} images); float: {kept}; input and output float32")
    return _save(ctx, module, "int8", quantized, {"recipe": best["name"], "tried": tried, "method": "ptq"})


BUILDERS = {"fp32": build_fp32, "int8": build_int8}
