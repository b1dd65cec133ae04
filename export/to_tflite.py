"""TFLite artifacts through onnx2tf, offline: FP32, FP16, dynamic-range, and full-integer INT8 (int8 or float32 I/O).

onnx2tf converts the FP32 ONNX graph (NCHW) into a TensorFlow SavedModel with NHWC
input; the FP32 and FP16 files are its own and the dynamic-range file is quantized from
that SavedModel by the TFLite converter. The INT8 file comes from a second conversion of
the graph with PReLU rewritten for XNNPACK's int8 kernels (:func:`prelu_for_xnnpack`).
The TFLite converter quantizes rather than onnx2tf: onnx2tf's own INT8 path would also
build two int16-activation models nobody ships, doubling the time.

Offline: onnx2tf 1.28 downloads a sample-image file when the model input has a static
batch of at most 20, and for INT8 calibration when no data is given. The ONNX graph has
a dynamic batch and calibration comes from our calibration set, so neither path runs;
``export.offline`` blocks the network in this process and counts any attempt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from petface_edge.runtime.manifest import InputContract, OutputContract, Quantization

from .context import Built, Context
from .tflite_metadata import with_metadata
from .formats import MIXED_CHECK
from .verify import cosine_stats, embed_pixels, meets, search_recipes

# The mixed fallback: layers ranked on this many calibration images; this many kept float, tried in turn.
MIXED_SAMPLE = 64
MIXED_FLOAT_LAYERS = (1, 2, 4, 8, 16)
INT8_RECIPES = (
    {"name": "full-int8-per-channel", "per_channel": True},
    {"name": "full-int8-per-tensor", "per_channel": False},
)


def prelu_for_xnnpack(graph):
    """The same function with each ``PRelu(x, a)`` written as ``Relu((1 - a) * x) + a * x``.

    XNNPACK, LiteRT's CPU delegate on phones and here, has no int8 PReLU nor a standalone int8
    ReLU: a full-integer MobileFaceNet fell apart into 35 delegate partitions with reference
    kernels between them (5.7x slower than FP32). The TFLite converter fuses this ReLU into the
    Mul before it, and XNNPACK runs int8 Mul and Add: 2 partitions remain. Exact where
    ``1 - a > 0`` (PReLU slopes below 1); a node with any slope >= 1 stays a PRelu.
    """
    from onnx import helper, numpy_helper

    from .to_onnx import rewrite_prelu

    def nodes_for(x, a, y, slope, out):
        if slope.max() >= 1:
            return None
        out.graph.initializer.append(numpy_helper.from_array((1 - slope).astype(slope.dtype), f"{a}/one_minus"))
        return [helper.make_node("Mul", [x, f"{a}/one_minus"], [f"{y}/scaled"]),
                helper.make_node("Relu", [f"{y}/scaled"], [f"{y}/positive"]),
                helper.make_node("Mul", [x, a], [f"{y}/negative"]),
                helper.make_node("Add", [f"{y}/positive", f"{y}/negative"], [y])]

    return rewrite_prelu(graph, nodes_for)


def _saved_model(ctx: Context, for_int8: bool = False) -> Path:
    """Run onnx2tf once per graph; returns its output folder (SavedModel + float32/float16 .tflite).

    ``for_int8`` converts the graph with PReLU rewritten for XNNPACK's int8 kernels (see
    :func:`prelu_for_xnnpack`); float files keep the plain graph, whose float PReLU XNNPACK runs.
    """
    folder = ctx.work_dir / ("onnx2tf-int8" if for_int8 else "onnx2tf")
    if not (folder / "saved_model.pb").exists():
        source = ctx.onnx_float  # built with torch before TensorFlow is imported
        if for_int8:
            import onnx

            source = ctx.work_dir / "float-xnnpack.onnx"
            onnx.save(prelu_for_xnnpack(onnx.load(ctx.onnx_float)), source)
        import onnx2tf

        onnx2tf.convert(input_onnx_file_path=str(source), output_folder_path=str(folder),
                        copy_onnx_input_output_names_to_tflite=True, non_verbose=True)
    return folder


def _contracts(ctx: Context, tflite: bytes) -> tuple[InputContract, OutputContract]:
    """Read layout, dtype, batch and quantization straight from the converted file."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    (i,), (o,) = interp.get_input_details(), interp.get_output_details()

    def quant(detail):
        scale, zero = detail["quantization"]
        return Quantization(float(scale), int(zero)) if scale else None

    batch = None if int(i["shape_signature"][0]) < 0 else int(i["shape"][0])
    inp = InputContract(i["name"], "NHWC", np.dtype(i["dtype"]).name, ctx.image_size, batch=batch,
                        quantization=quant(i))
    out = OutputContract(o["name"], np.dtype(o["dtype"]).name, int(ctx.info["embedding_dim"]), quantization=quant(o))
    return inp, out


def _save(ctx: Context, tflite: bytes, precision: str, quantized: str, notes: dict | None = None) -> Built:
    import onnx2tf
    import tensorflow as tf

    inp, out = _contracts(ctx, tflite)
    path = ctx.path(f"pet_embedder_{precision}.tflite")
    path.write_bytes(with_metadata(tflite, ctx.metadata(precision, inp, out), inp, out))
    tools = {"onnx2tf": onnx2tf.__version__, "tensorflow": tf.__version__}
    return Built(path, inp, out, quantized, tools, notes or {})


def build_fp32(ctx: Context) -> Built:
    data = (_saved_model(ctx) / "float_float32.tflite").read_bytes()
    return _save(ctx, data, "fp32", "nothing: float32 weights and activations")


def build_fp16(ctx: Context) -> Built:
    data = (_saved_model(ctx) / "float_float16.tflite").read_bytes()
    return _save(ctx, data, "fp16", "float16 weights, dequantized to float32 at load; float32 activations "
                                    "(GPU delegates run them in float16)")


def _converter(ctx: Context, for_int8: bool = False):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_saved_model(str(_saved_model(ctx, for_int8)))


def build_dynamic_range(ctx: Context) -> Built:
    import tensorflow as tf

    converter = _converter(ctx)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return _save(ctx, converter.convert(), "dynamic-range",
                 "int8 weights; activations float32 (quantized on the fly inside some kernels); "
                 "input and output float32. Not a full-integer model")


def _full_integer(ctx: Context, per_channel: bool, float_io: bool = False) -> bytes:
    """int8 kernels throughout; int8 input and output, or (``float_io``) float32 ones the converter quantizes."""
    import tensorflow as tf
    from petface_edge.calibration.feeds import nhwc_float

    x = nhwc_float(ctx.calibration)
    converter = _converter(ctx, for_int8=True)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i: i + 1]] for i in range(len(x)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]  # int8 kernels or fail
    io_type = tf.float32 if float_io else tf.int8
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type
    converter._experimental_disable_per_channel = not per_channel
    return converter.convert()


def _embed_calibration(ctx: Context, path: Path) -> np.ndarray:
    """The calibration images (train split: no held-out leak) through ``path`` as the SDK runs it."""
    from petface_edge.runtime.backends import open_backend

    inp, out = _contracts(ctx, path.read_bytes())
    return embed_pixels(open_backend(path), inp, out, ctx.calibration.pixels)


def _search_int8(ctx: Context, float_io: bool) -> tuple[dict, bytes, list[dict]]:
    """Full-integer recipes best-first until the self-check passes: (the kept recipe, its model, all tried)."""
    reference = _embed_calibration(ctx, _saved_model(ctx) / "float_float32.tflite")

    def build(recipe: dict) -> tuple[bytes, dict]:
        data = _full_integer(ctx, recipe["per_channel"], float_io)
        # One file each: LiteRT maps the file it runs.
        candidate = ctx.work_dir / f"{recipe['name']}{'-float-io' if float_io else ''}.tflite"
        candidate.write_bytes(data)
        return data, cosine_stats(reference, _embed_calibration(ctx, candidate))

    return search_recipes(INT8_RECIPES, build)


def _int8_summary(ctx: Context, recipe: dict, io: str) -> str:
    return (f"everything: int8 weights ({'per-channel' if recipe['per_channel'] else 'per-tensor'}), int8 "
            f"activations calibrated on {len(ctx.calibration)} images, {io}; PReLU written as "
            "Relu((1 - a) x) + a x so XNNPACK runs it in int8")


def build_int8(ctx: Context) -> Built:
    """Full-integer (int8 in, int8 out, int8 kernels throughout); recipes best-first until the self-check passes."""
    best, model, tried = _search_int8(ctx, float_io=False)
    quantized = _int8_summary(ctx, best, "int8 input and output (scale/zero point in the contract)")
    return _save(ctx, model, "int8", quantized, {"recipe": best["name"], "tried": tried})


def build_int8_float_io(ctx: Context) -> Built:
    """The INT8 model with a float32 input and output (a Quantize op in, a Dequantize op out).

    MediaPipe Tasks rejects int8 inputs and outputs; this one it opens, with the standard
    metadata every float-input file carries (``tflite_metadata``).
    """
    best, model, tried = _search_int8(ctx, float_io=True)
    quantized = _int8_summary(ctx, best, "float32 input and output, quantized and dequantized inside the model")
    return _save(ctx, model, "int8-float-io", quantized, {"recipe": best["name"], "tried": tried})


def build_int8_mixed(ctx: Context) -> Built:
    """Sensitivity-guided fallback, built when the full-integer ``tflite-int8`` missed its gate.

    TFLite's quantization debugger measures each quantized layer's error on a calibration subset; layers
    are ranked by RMSE over their own quantization step (``rmse/scale``, about 0.29 for pure rounding
    noise: a layer far above that is one int8 cannot represent) and kept float, worst first, in growing
    numbers until ``formats.MIXED_CHECK`` passes (else the best tried). Float32 input and output. Never
    shipped under the full-integer name.
    """
    import csv
    import io

    import tensorflow as tf
    from petface_edge.calibration.feeds import nhwc_float

    x = nhwc_float(ctx.calibration)
    sample = x[np.linspace(0, len(x) - 1, min(MIXED_SAMPLE, len(x))).astype(int)]
    converter = _converter(ctx, for_int8=True)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i: i + 1]] for i in range(len(x)))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([sample[i: i + 1]] for i in range(len(sample))))
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    error = {row["tensor_name"]: float(np.sqrt(float(row["mean_squared_error"])) / float(row["scale"]))
             for row in csv.DictReader(dump) if float(row["scale"]) > 0}
    ranked = sorted(error, key=error.get, reverse=True)
    reference = _embed_calibration(ctx, _saved_model(ctx) / "float_float32.tflite")
    tried, data = [], b""
    for count in MIXED_FLOAT_LAYERS:
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=ranked[:count])
        data = debugger.get_nondebug_quantized_model()
        candidate = ctx.work_dir / f"mixed-{count}.tflite"
        candidate.write_bytes(data)
        tried.append({"name": f"float {count} layers", "float_layers": ranked[:count],
                      **cosine_stats(reference, _embed_calibration(ctx, candidate))})
        if meets(tried[-1], MIXED_CHECK):
            break
    best = tried[-1] if meets(tried[-1], MIXED_CHECK) else max(tried, key=lambda t: t["cos_p1"])
    kept = best["float_layers"]
    if best is not tried[-1]:
        data = (ctx.work_dir / f"mixed-{len(kept)}.tflite").read_bytes()
    quantized = (f"int8 weights (per-channel) and int8 activations calibrated on {len(ctx.calibration)} images, "
                 f"except {len(kept)} float layers (the highest rmse/scale: {', '.join(kept)}); float32 input "
                 "and output")
    notes = {"recipe": "int8-per-channel-mixed", "float_layers": kept, "tried": tried,
             "sensitivity": {"measure": f"rmse/scale per layer, TFLite quantization debugger on {len(sample)} "
                                        "calibration images",
                             "worst": {name: round(error[name], 4) for name in ranked[:10]}}}
    return _save(ctx, data, "int8-mixed", quantized, notes)


BUILDERS = {"fp32": build_fp32, "fp16": build_fp16, "dynamic-range": build_dynamic_range, "int8": build_int8,
            "int8-float-io": build_int8_float_io, "int8-mixed": build_int8_mixed}
