"""ONNX artifacts: FP32 (opset 18, onnxsim, dynamic batch), FP16, and INT8 (onnxruntime static QDQ).

All three take float32 NCHW pixels 0..255 and return float32 embeddings, so a client
switches precision by switching files. FP16 casts once at the input and output and
runs every weight and activation in half precision inside.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from petface_edge.runtime.manifest import InputContract, OutputContract

from .verify import RECIPE_CHECK, cosine_stats, meets
from .worker import Built, Context

OPSET = 18
INPUT, OUTPUT = "pixels", "embedding"

# ORT static-quantization recipes, best first (the levers measured on MobileFaceNet-112; see report.md).
INT8_RECIPES = (
    {"name": "qdq-s8s8-per-tensor-minmax-float-ends", "per_channel": False, "activation": "QInt8",
     "method": "MinMax", "symmetric_activations": False, "keep_float": True},
    {"name": "qdq-s8s8-per-channel-minmax-float-ends", "per_channel": True, "activation": "QInt8",
     "method": "MinMax", "symmetric_activations": False, "keep_float": True},
    {"name": "qdq-s8s8-per-channel-percentile-float-ends", "per_channel": True, "activation": "QInt8",
     "method": "Percentile", "symmetric_activations": False, "keep_float": True},
)


def contracts(image_size: int, dim: int) -> tuple[InputContract, OutputContract]:
    return InputContract(INPUT, "NCHW", "float32", image_size), OutputContract(OUTPUT, "float32", dim)


def float_graph(model, image_size: int) -> onnx.ModelProto:
    """Trace ``model`` to opset 18 with a dynamic batch axis and simplify it with onnxsim."""
    import io

    import onnxsim
    import torch

    buf = io.BytesIO()
    # dynamo=False: the TorchScript exporter needs no onnxscript and yields plain ops that onnx2tf accepts.
    torch.onnx.export(model, (torch.zeros(1, 3, image_size, image_size),), buf, opset_version=OPSET,
                      input_names=[INPUT], output_names=[OUTPUT], dynamo=False,
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    graph, ok = onnxsim.simplify(onnx.load_from_string(buf.getvalue()))
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified graph")
    return graph


def to_fp16(graph: onnx.ModelProto) -> onnx.ModelProto:
    """Half-precision weights and math, float32 at the edges (one Cast in, one Cast out)."""
    m = onnx.ModelProto()
    m.CopyFrom(graph)
    g = m.graph
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in g.node:
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
    for node in g.node:
        node.input[:] = [f"{i}_fp16" if i == INPUT else i for i in node.input]
        node.output[:] = [f"{o}_fp16" if o == OUTPUT else o for o in node.output]
    g.node.insert(0, helper.make_node("Cast", [INPUT], [f"{INPUT}_fp16"], to=TensorProto.FLOAT16))
    g.node.append(helper.make_node("Cast", [f"{OUTPUT}_fp16"], [OUTPUT], to=TensorProto.FLOAT))
    del g.value_info[:]
    onnx.checker.check_model(m)
    return m


def _float_ends(graph: onnx.ModelProto) -> list[str]:
    """Node names kept in float by the "float ends" lever: the first conv, the last conv and all after it."""
    nodes = list(graph.graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    return [nodes[convs[0]].name] + [n.name for n in nodes[convs[-1]:]]


def _quantize(ctx: Context, recipe: dict, prepared: str, out: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from calibration.feeds import OrtCalibrationReader

    quantize_static(
        prepared, out, OrtCalibrationReader(ctx.calibration, INPUT), quant_format=QuantFormat.QDQ,
        per_channel=recipe["per_channel"], activation_type=getattr(QuantType, recipe["activation"]),
        weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, recipe["method"]),
        nodes_to_exclude=_float_ends(onnx.load(prepared)) if recipe["keep_float"] else [],
        extra_options={"ActivationSymmetric": recipe["symmetric_activations"], "WeightSymmetric": True})


def _self_check(float_path: str, quant_path: str, ctx: Context) -> dict:
    """Cosine of the INT8 graph to the FP32 graph on the calibration images (train split: no held-out leak)."""
    import onnxruntime as ort

    from calibration.feeds import nchw_float

    x = nchw_float(ctx.calibration)
    a, b = (ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {INPUT: x})[0]
            for p in (float_path, quant_path))
    return cosine_stats(a, b)


def _save(ctx: Context, graph: onnx.ModelProto, precision: str, quantized: str, notes: dict | None = None) -> Built:
    import onnxruntime

    inp, out = contracts(ctx.image_size, int(ctx.info["embedding_dim"]))
    del graph.metadata_props[:]
    for key, value in ctx.metadata(precision, inp, out).items():
        graph.metadata_props.add(key=key, value=value)
    graph.producer_name, graph.producer_version = "petface-edge", str(ctx.info["producer"])
    path = ctx.path(f"pet_embedder_{precision}.onnx")
    onnx.save(graph, path)  # < 2 GB: one self-contained file, no external data
    tools = {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "opset": OPSET}
    return Built(path, inp, out, quantized, tools, notes or {})


def build_fp32(ctx: Context) -> Built:
    return _save(ctx, onnx.load(ctx.onnx_float), "fp32", "nothing: float32 weights and activations")


def build_fp16(ctx: Context) -> Built:
    return _save(ctx, to_fp16(onnx.load(ctx.onnx_float)), "fp16",
                 "nothing quantized; weights and activations float16, input and output float32")


def build_int8(ctx: Context) -> Built:
    """quant_pre_process, then static QDQ; recipes are tried best-first until one passes the self-check."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = str(ctx.work_dir / "prepared.onnx")
    quant_pre_process(str(ctx.onnx_float), prepared)
    tried = []
    for recipe in INT8_RECIPES:
        out = str(ctx.work_dir / f"{recipe['name']}.onnx")
        _quantize(ctx, recipe, prepared, out)
        tried.append({**recipe, **_self_check(str(ctx.onnx_float), out, ctx)})
        if meets(tried[-1], RECIPE_CHECK):
            break
    best = tried[-1] if meets(tried[-1], RECIPE_CHECK) else max(tried, key=lambda t: t["cos_p1"])
    graph = onnx.load(ctx.work_dir / f"{best['name']}.onnx")
    kept = "the first conv, the final projection and L2 normalization in float; " if best["keep_float"] else ""
    quantized = (f"int8 weights ({'per-channel' if best['per_channel'] else 'per-tensor'}, symmetric) and int8 "
                 f"activations ({'symmetric' if best['symmetric_activations'] else 'asymmetric'}, "
                 f"{best['method']} calibration on {len(ctx.calibration)} images); {kept}"
                 "input and output float32 (QDQ nodes inside)")
    return _save(ctx, graph, "int8", quantized, {"recipe": best["name"], "tried": tried})


BUILDERS = {"fp32": build_fp32, "fp16": build_fp16, "int8": build_int8}
