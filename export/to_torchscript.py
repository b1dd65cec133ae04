"""TorchScript-Lite artifacts (``.ptl``): FP32, and static INT8 on the qnnpack engine (torch.ao FX).

``optimize_for_mobile`` fails in this torch build (no XNNPACK), so the model is traced,
frozen and saved for the lite interpreter directly; metadata goes in as an extra file.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import torch

from petface_edge.runtime.manifest import InputContract, OutputContract

from .context import Built, Context
from .formats import MIXED_CHECK
from .verify import STEM_CONVS, cosine_stats, meets, search_recipes

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
# The mixed fallback: blocks ranked on this many calibration images, at most this many kept float.
SENSITIVITY_IMAGES = 32
MAX_FLOAT_BLOCKS = 4


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


def _quantize(model: torch.nn.Module, calib, recipe: dict, float_modules: tuple[str, ...] = ()) -> torch.nn.Module:
    """FX static quantization of a copy of ``model`` by ``recipe``; ``float_modules`` (names, with everything
    inside them) get qconfig None too."""
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
    for name in [*kept[recipe["float_convs"]], *float_modules]:
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


def blocks(model: torch.nn.Module) -> list[str]:
    """The network blocks that hold convs, in order: a conv's module path up to its first index (``features.3``,
    timm's ``backbone.blocks.2``), the path without it when the index names the conv itself (``gdconv``), or
    the whole path (``projection``). MobileFaceNet's blocks get the names the ExecuTorch fallback gives them."""
    out: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Conv2d):
            continue
        parts = name.split(".")
        first = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
        block = ".".join(parts[:first + 1] if first < len(parts) - 1 else parts[:first])
        if block not in out:
            out.append(block)
    return out


def build_int8_mixed(ctx: Context) -> Built:
    """Sensitivity-guided fallback, built when the full-integer ``torchscript-int8`` missed its gate.

    On the first recipe (PReLU float), each block's sensitivity is the 1st-percentile cosine gained when that
    block alone gets qconfig None (on a subset of the calibration images, against the float model); blocks
    are kept float most sensitive first until ``formats.MIXED_CHECK`` passes (at most ``MAX_FLOAT_BLOCKS``;
    else the best). Never shipped under the full-integer name.
    """
    torch.backends.quantized.engine = ENGINE
    calib = ctx.calibration
    every = np.linspace(0, len(calib) - 1, min(SENSITIVITY_IMAGES, len(calib))).astype(int)  # spread over identities
    sample = dataclasses.replace(calib, pixels=calib.pixels[every], sources=[calib.sources[i] for i in every],
                                 labels=[calib.labels[i] for i in every])
    recipe = INT8_RECIPES[0]

    def stats(float_blocks: tuple[str, ...], images) -> tuple[torch.nn.Module, dict]:
        x = torch.from_numpy(images.pixels.transpose(0, 3, 1, 2).astype(np.float32))
        q = _quantize(ctx.model, images, recipe, float_blocks)
        with torch.no_grad():
            return q, cosine_stats(ctx.model(x).numpy(), q(x).numpy())

    base = stats((), sample)[1]["cos_p1"]
    gain = {b: stats((b,), sample)[1]["cos_p1"] - base for b in blocks(ctx.model)}
    ranked = sorted(gain, key=gain.get, reverse=True)[:MAX_FLOAT_BLOCKS]
    tried, models = [], []
    for n in range(1, len(ranked) + 1):
        module, measured = stats(tuple(ranked[:n]), calib)
        models.append(module)
        tried.append({"name": f"float {', '.join(ranked[:n])}", "float_blocks": ranked[:n], **measured})
        if meets(measured, MIXED_CHECK):
            break
    best = tried[-1] if meets(tried[-1], MIXED_CHECK) else max(tried, key=lambda t: t["cos_p1"])
    kept = best["float_blocks"]
    quantized = (f"convs and adds int8: int8 weights (per-tensor), uint8 activations ({ENGINE}, MinMax on "
                 f"{len(calib)} images) except float blocks {', '.join(kept)}; float: PReLU, L2 normalization; "
                 "input and output float32")
    notes = {"recipe": f"{recipe['name']}-mixed", "float_layers": kept, "engine": ENGINE, "tried": tried,
             "sensitivity": {"measure": f"cos_p1 gained when the block alone stays float ({len(sample)} calibration "
                                        "images)", "full_integer_cos_p1": base,
                             "gain": {b: round(g, 6) for b, g in sorted(gain.items(), key=lambda kv: -kv[1])}}}
    return _save(ctx, models[tried.index(best)], "int8-mixed", quantized, notes)


BUILDERS = {"fp32": build_fp32, "int8": build_int8, "int8-mixed": build_int8_mixed}
