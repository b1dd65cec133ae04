"""ONNX artifacts: FP32 (opset 18, onnxsim, dynamic batch), FP16, and INT8 (onnxruntime static QDQ).

The float files carry PReLU as two 1x1 depthwise convs (:func:`prelu_for_nchwc`), which onnxruntime runs 3x faster.

All three take float32 NCHW pixels 0..255 and return float32 embeddings, so a client
switches precision by switching files. FP16 casts once at the input and output and
runs every weight and activation in half precision inside.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from petface_edge.runtime.manifest import InputContract, OutputContract

from .context import Built, Context
from .verify import STEM_CONVS, cosine_stats, embed_pixels, search_recipes

OPSET = 18
INPUT, OUTPUT = "pixels", "embedding"

# ORT static-quantization recipes, best first (most of the graph in int8 first). Measured on the parity
# images of a MobileFaceNet-112 trained 4 epochs on 60 pets (weakly trained models quantize worst):
# MinMax calibration gave mean cosine 0.960 (per-tensor and per-channel alike; entropy the same),
# percentile 0.978, and per-tensor SQNR showed the loss piling up in the full-resolution stem: keeping
# its first 8 convs float (4% of the weights, a quarter of the MACs) gave 0.991. Cross-layer
# equalization and per-channel activation equalization moved mean cosine by under 0.004 and are not
# used. The demo model (10 epochs, 240 pets) passes with the first recipe (mean 0.9994).
INT8_RECIPES = (
    {"name": "qdq-s8s8-per-channel-percentile-float-ends", "per_channel": True, "method": "Percentile",
     "float": "ends"},
    {"name": "qdq-s8s8-per-channel-percentile-float-ends-and-stem", "per_channel": True, "method": "Percentile",
     "float": "ends+stem"},
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


def rewrite_prelu(graph: onnx.ModelProto, nodes_for) -> onnx.ModelProto:
    """A checked copy of ``graph`` with each constant-slope ``PRelu`` replaced by ``nodes_for(x, a, y, slope, copy)``.

    ``nodes_for`` returns the replacement nodes (it may add initializers to ``copy``), or None to keep the node.
    """
    out = onnx.ModelProto()
    out.CopyFrom(graph)
    constants = {i.name: numpy_helper.to_array(i) for i in out.graph.initializer}
    nodes = []
    for node in out.graph.node:
        slope = constants.get(node.input[1]) if node.op_type == "PRelu" else None
        replacement = None if slope is None else nodes_for(*node.input, node.output[0], slope, out)
        nodes += [node] if replacement is None else replacement
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [i for i in out.graph.initializer if i.name in used]  # a slope no node reads any more would
    del out.graph.initializer[:]  # make onnxruntime warn on every session it opens
    out.graph.initializer.extend(kept)
    onnx.checker.check_model(out)
    return out


def prelu_for_nchwc(graph: onnx.ModelProto) -> onnx.ModelProto:
    """The same function with each ``PRelu(x, a)`` written as ``x + (1 - a) * Relu(-x)`` in 1x1 depthwise convs.

    Measured with onnxruntime's profiler (``python -m benchmarks.ort_profile``, MobileFaceNet-112, batch 1,
    1 thread, noise pixels): its PRelu kernel branches on the sign of every value and mispredicts on real
    activations, 33 nodes taking 68% of the run (10.9 of 15.9 ms; a flat test image hides it), and having
    no blocked-layout (NCHWc) kernel it wraps each one in ReorderInput/ReorderOutput (another 1.2 ms).
    ``Max(x, a*x)`` removed the branches (6.8 ms) but kept the reorders; written with ops the NCHWc pass
    keeps blocked, the whole graph stays in one layout: ``Conv(x, -1)`` with its ReLU fused, then a
    ``Conv(., 1 - a)`` with the ``+ x`` fused as its sum input: 4.7 ms, 3.1x the PRelu graph (on ARM,
    where onnxruntime has no NCHWc pass, these are two cheap elementwise depthwise convs). Exact for any
    slope in real arithmetic; in float32 it differs from PRelu by about one rounding (8.9e-8 at most on
    the unit-length embedding).
    """
    def nodes_for(x: str, a: str, y: str, slope: np.ndarray, out: onnx.ModelProto) -> list:
        channels = slope.size
        out.graph.initializer.extend([
            numpy_helper.from_array(np.full((channels, 1, 1, 1), -1, slope.dtype), f"{a}/minus_one"),
            numpy_helper.from_array((1 - slope).reshape(channels, 1, 1, 1), f"{a}/one_minus")])
        conv = {"group": channels, "kernel_shape": [1, 1]}
        return [helper.make_node("Conv", [x, f"{a}/minus_one"], [f"{y}/minus_x"], **conv),
                helper.make_node("Relu", [f"{y}/minus_x"], [f"{y}/negative_part"]),
                helper.make_node("Conv", [f"{y}/negative_part", f"{a}/one_minus"], [f"{y}/correction"], **conv),
                helper.make_node("Add", [x, f"{y}/correction"], [y])]

    return rewrite_prelu(graph, nodes_for)


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


def float_nodes(graph: onnx.ModelProto, keep: str) -> list[str]:
    """Node names a recipe keeps in float: "ends" is the first conv, the last conv and all after it (the
    projection and L2 normalization); "ends+stem" adds the first ``STEM_CONVS`` convs and every op before
    the next one."""
    nodes = list(graph.graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    kept = [nodes[convs[0]]] + nodes[convs[-1]:]
    if keep == "ends+stem":
        kept += nodes[:convs[min(STEM_CONVS, len(convs) - 1)]]
    return sorted({n.name for n in kept})


def _quantize(ctx: Context, recipe: dict, prepared: str, out: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from petface_edge.calibration.feeds import OrtCalibrationReader

    quantize_static(
        prepared, out, OrtCalibrationReader(ctx.calibration, INPUT), quant_format=QuantFormat.QDQ,
        per_channel=recipe["per_channel"], activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, recipe["method"]),
        nodes_to_exclude=float_nodes(onnx.load(prepared), recipe["float"]),
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def _embed_calibration(ctx: Context, path: str) -> np.ndarray:
    """The calibration images (train split: no held-out leak) through ``path`` as the SDK runs it."""
    from petface_edge.runtime.backends import open_backend

    inp, out = contracts(ctx.image_size, int(ctx.info["embedding_dim"]))
    return embed_pixels(open_backend(path), inp, out, ctx.calibration.pixels)


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
    return _save(ctx, prelu_for_nchwc(onnx.load(ctx.onnx_float)), "fp32",
                 "nothing: float32 weights and activations; PReLU written as x + (1 - a) * Relu(-x) in 1x1 depthwise convs")


def build_fp16(ctx: Context) -> Built:
    return _save(ctx, to_fp16(prelu_for_nchwc(onnx.load(ctx.onnx_float))), "fp16",
                 "nothing quantized; weights and activations float16, input and output float32; "
                 "PReLU written as x + (1 - a) * Relu(-x) in 1x1 depthwise convs")


def build_int8(ctx: Context) -> Built:
    """quant_pre_process, then static QDQ; recipes are tried best-first until one passes the self-check."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = str(ctx.work_dir / "prepared.onnx")
    quant_pre_process(str(ctx.onnx_float), prepared)
    reference = _embed_calibration(ctx, str(ctx.onnx_float))

    def build(recipe: dict) -> tuple[str, dict]:
        out = str(ctx.work_dir / f"{recipe['name']}.onnx")
        _quantize(ctx, recipe, prepared, out)
        return out, cosine_stats(reference, _embed_calibration(ctx, out))

    best, path, tried = search_recipes(INT8_RECIPES, build)
    kept = {"ends": "the first conv, the final projection and L2 normalization",
            "ends+stem": f"the stem (the first {STEM_CONVS} convs and the ops between them), the final projection "
                         "and L2 normalization"}
    quantized = (f"int8 weights ({'per-channel' if best['per_channel'] else 'per-tensor'}, symmetric) and int8 "
                 f"activations (asymmetric, {best['method']} calibration on {len(ctx.calibration)} images); "
                 f"float: {kept[best['float']]}; input and output float32 (QDQ nodes inside)")
    return _save(ctx, onnx.load(path), "int8", quantized, {"recipe": best["name"], "tried": tried})


BUILDERS = {"fp32": build_fp32, "fp16": build_fp16, "int8": build_int8}
