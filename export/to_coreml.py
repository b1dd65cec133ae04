"""CoreML ML Program artifacts (``.mlpackage``, iOS 16+): FP32, FP16, int8 weights (W8), and W8A8.

Conversion and weight quantization run on Linux; prediction does not (no CoreML
framework), so each package is checked at spec level here (it loads with
coremltools and declares the contract's input and output) and verified on macOS.
W8A8 needs calibrated activation ranges, which ``linear_quantize_activations`` gets by
running predictions: impossible on Linux. So activations are calibrated in PyTorch with
``coremltools.optimize.torch`` before conversion, and the quantize/dequantize pairs
convert into the program (iOS 17+, the first target with activation quantization).
"""

from __future__ import annotations

import numpy as np
import torch

from petface_edge.runtime.manifest import InputContract, OutputContract

from .context import Built, Context

INPUT, OUTPUT = "pixels", "embedding"


def _contracts(ctx: Context) -> tuple[InputContract, OutputContract]:
    return (InputContract(INPUT, "NCHW", "float32", ctx.image_size, batch=1),
            OutputContract(OUTPUT, "float32", int(ctx.info["embedding_dim"])))


def _convert(ctx: Context, module: torch.nn.Module, precision, target):
    import coremltools as ct

    example = torch.zeros(1, 3, ctx.image_size, ctx.image_size)
    with torch.no_grad():
        traced = torch.jit.trace(module.eval(), example)
    return ct.convert(traced, inputs=[ct.TensorType(name=INPUT, shape=example.shape, dtype=np.float32)],
                      outputs=[ct.TensorType(name=OUTPUT, dtype=np.float32)], convert_to="mlprogram",
                      compute_precision=precision, minimum_deployment_target=target)


def spec_check(path, inp: InputContract, out: OutputContract) -> dict:
    """Reload the saved package (no compilation: impossible off macOS) and compare its interface to the contract."""
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    inputs = {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input}
    outputs = [o.name for o in spec.description.output]
    ok = inputs == {inp.name: [1, 3, inp.size, inp.size]} and outputs == [out.name]
    return {"loaded": True, "inputs": inputs, "outputs": outputs, "matches_contract": ok,
            "spec_version": spec.specificationVersion}


def _save(ctx: Context, mlmodel, precision: str, quantized: str, notes: dict | None = None) -> Built:
    import coremltools as ct

    inp, out = _contracts(ctx)
    meta = ctx.metadata(precision, inp, out)
    mlmodel.user_defined_metadata.update(meta)
    mlmodel.short_description = f"petface {ctx.info['backbone']} pet-face embedder ({precision})"
    mlmodel.author, mlmodel.version = str(ctx.info["producer"]), meta["checkpoint_sha256"][:12]
    mlmodel.input_description[INPUT] = (f"RGB pixels 0..255, float32 NCHW 1x3x{ctx.image_size}x{ctx.image_size}, "
                                        "resized with an antialiased bilinear filter; no mean/std (in graph)")
    mlmodel.output_description[OUTPUT] = f"{out.dim}-d L2-normalized embedding"
    path = ctx.path(f"pet_embedder_{precision}.mlpackage")
    mlmodel.save(str(path))
    check = spec_check(path, inp, out)
    if not check["matches_contract"]:
        raise RuntimeError(f"saved package declares {check['inputs']} -> {check['outputs']}, not the contract")
    return Built(path, inp, out, quantized, {"coremltools": ct.__version__}, {**(notes or {}), "spec_check": check})


def _float_program(ctx: Context, fp16: bool):
    import coremltools as ct

    return _convert(ctx, ctx.model, ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32, ct.target.iOS16)


def build_fp32(ctx: Context) -> Built:
    return _save(ctx, _float_program(ctx, False), "fp32", "nothing: float32 weights and compute")


def build_fp16(ctx: Context) -> Built:
    return _save(ctx, _float_program(ctx, True), "fp16",
                 "nothing quantized; float16 weights and compute, float32 input and output")


def build_w8(ctx: Context) -> Built:
    import coremltools.optimize.coreml as cto

    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=0))
    mlmodel = cto.linear_quantize_weights(_float_program(ctx, True), config=config)
    return _save(ctx, mlmodel, "w8", "int8 weights (per-channel symmetric, every conv), dequantized on the fly; "
                                     "activations and compute float16; float32 input and output")


def build_w8a8(ctx: Context) -> Built:
    import coremltools as ct
    from coremltools.optimize.torch.quantization import LinearQuantizer, LinearQuantizerConfig
    from petface_edge.calibration.feeds import torch_batches

    example = torch.zeros(1, 3, ctx.image_size, ctx.image_size)
    # milestones [observers on, fake-quant on, observers frozen, BN frozen]: calibrate only, BN frozen from step 0.
    config = LinearQuantizerConfig.from_dict({"global_config": {
        "quantization_scheme": "symmetric", "milestones": [0, 0, 10_000, 0]}})
    quantizer = LinearQuantizer(ctx.model.eval(), config)
    prepared = quantizer.prepare(example_inputs=(example,), inplace=False)
    quantizer.step()
    prepared.eval()
    with torch.no_grad():
        for batch in torch_batches(ctx.calibration):
            prepared(batch)
    finalized = quantizer.finalize(prepared, inplace=False)
    mlmodel = _convert(ctx, finalized, ct.precision.FLOAT16, ct.target.iOS17)
    return _save(ctx, mlmodel, "w8a8", f"int8 weights (per-channel symmetric) and int8 activations (symmetric, "
                                       f"calibrated in PyTorch on {len(ctx.calibration)} images with "
                                       "coremltools.optimize.torch); float16 where ops are not quantized; "
                                       "float32 input and output; iOS 17+")


BUILDERS = {"fp32": build_fp32, "fp16": build_fp16, "w8": build_w8, "w8a8": build_w8a8}
