"""TorchScript-Lite artifacts (``.ptl``): FP32, and static INT8 on the qnnpack engine (torch.ao FX).

``optimize_for_mobile`` fails in this torch build (no XNNPACK), so the model is traced,
frozen and saved for the lite interpreter directly; metadata goes in as an extra file.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import torch

from petface_edge.runtime.manifest import InputContract, OutputContract

from .context import Built, Context
from .verify import STEM_CONVS, cosine_stats, search_recipes

INPUT, OUTPUT = "pixels", "embedding"
METADATA_FILE = "petface.json"  # stored as extra/petface.json inside the .ptl archive
ENGINE = "qnnpack"  # the mobile quantized engine (ARM phones); also present on x86
# Static-quantization recipes, best first, kept by verify.RECIPE_CHECK. torch.ao's quantized PReLU
# wrecks MobileFaceNet (cosine 0.08 to FP32 on a model trained 4 epochs), so PReLU stays float; the
# full-resolution stem loses most (see export/to_onnx.py), so the last recipe keeps it float too.
INT8_RECIPES = (
    {"name": "qnnpack-per-tensor-minmax-float-prelu", "float_prelu": True, "float_convs": "none"},
    {"name": "qnnpack-per-tensor-minmax-float-prelu-float-ends", "float_prelu": True, "float_convs": "ends"},
    {"name": "qnnpack-per-tensor-minmax-float-prelu-float-ends-and-stem", "float_prelu": True,
     "float_convs": "ends+stem"},
)


class FloatPReLU(torch.nn.Module):
    """A PReLU that FX quantization leaves alone: an opaque leaf with no qconfig.

    (``qconfig None`` on a bare ``nn.PReLU`` crashes ``convert_fx``, which then tries to lower the
    dequantize-PReLU-quantize pattern to a quantized PReLU without a weight observer.)
    """

    def __init__(self, prelu: torch.nn.PReLU) -> None:
        super().__init__()
        self.prelu = prelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(x)


def _float_prelu(model: torch.nn.Module) -> torch.nn.Module:
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.PReLU):
                setattr(module, name, FloatPReLU(child))
    return model


def _save(ctx: Context, module: torch.nn.Module, precision: str, quantized: str, notes: dict | None = None) -> Built:
    inp = InputContract(INPUT, "NCHW", "float32", ctx.image_size)
    out = OutputContract(OUTPUT, "float32", int(ctx.info["embedding_dim"]))
    example = torch.zeros(1, 3, ctx.image_size, ctx.image_size)
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(module.eval(), example))
    path = ctx.path(f"pet_embedder_{precision}.ptl")
    frozen._save_for_lite_interpreter(str(path), _extra_files={METADATA_FILE: json.dumps(
        ctx.metadata(precision, inp, out))})
    return Built(path, inp, out, quantized, {"torch": torch.__version__}, notes or {})


def build_fp32(ctx: Context) -> Built:
    return _save(ctx, ctx.model, "fp32", "nothing: float32 weights and activations")


def _quantize(model: torch.nn.Module, calib, recipe: dict) -> torch.nn.Module:
    from petface_edge.calibration.feeds import torch_batches
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    qmap = get_default_qconfig_mapping(ENGINE)
    custom = PrepareCustomConfig()
    model = copy.deepcopy(model).eval()
    if recipe["float_prelu"]:
        model = _float_prelu(model)
        qmap.set_object_type(FloatPReLU, None)
        custom.set_non_traceable_module_classes([FloatPReLU])
    convs = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    kept = {"none": [], "ends": [convs[0], convs[-1]], "ends+stem": convs[:STEM_CONVS] + [convs[-1]]}
    for name in kept[recipe["float_convs"]]:
        qmap.set_module_name(name, None)
    example = torch.zeros(1, 3, model.image_size, model.image_size)
    prepared = prepare_fx(model, qmap, (example,), prepare_custom_config=custom)
    with torch.no_grad():
        for batch in torch_batches(calib):
            prepared(batch)
    return convert_fx(prepared)


def build_int8(ctx: Context) -> Built:
    torch.backends.quantized.engine = ENGINE
    x = torch.from_numpy(ctx.calibration.pixels.transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        reference = ctx.model(x).numpy()

    def build(recipe: dict) -> tuple[torch.nn.Module, dict]:
        q = _quantize(ctx.model, ctx.calibration, recipe)
        with torch.no_grad():
            return q, cosine_stats(reference, q(x).numpy())

    best, model, tried = search_recipes(INT8_RECIPES, build)
    kept = ["L2 normalization"] + (["PReLU"] if best["float_prelu"] else []) + \
        {"none": [], "ends": ["the first conv", "the final projection"],
         "ends+stem": [f"the first {STEM_CONVS} convs (stem)", "the final projection"]}[best["float_convs"]]
    quantized = (f"convs and adds int8: int8 weights (per-tensor), uint8 activations ({ENGINE}, MinMax on "
                 f"{len(ctx.calibration)} images); float: {', '.join(kept)}; input and output float32")
    return _save(ctx, model, "int8", quantized, {"recipe": best["name"], "tried": tried, "engine": ENGINE})


BUILDERS = {"fp32": build_fp32, "int8": build_int8}
