"""The ONNX graph form: PReLU as 1x1 depthwise convs (onnxruntime keeps them in its blocked layout), same results."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from petface_edge.export.to_onnx import INPUT, OUTPUT, prelu_for_nchwc, to_fp16


def _prelu_graph(slopes: list[np.ndarray]) -> onnx.ModelProto:
    nodes, inits, last = [], [], INPUT
    for i, slope in enumerate(slopes):
        inits.append(numpy_helper.from_array(slope.reshape(-1, 1, 1).astype(np.float32), f"a{i}"))
        nodes.append(helper.make_node("PRelu", [last, f"a{i}"], [f"y{i}"]))
        last = f"y{i}"
    nodes.append(helper.make_node("Identity", [last], [OUTPUT]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT: x})[0]


def test_prelu_for_nchwc_matches_prelu_for_any_slope():
    inside = np.array([0.0, 0.25, 0.5, 1.0])
    outside = np.array([0.1, -0.2, 0.3, 1.5])  # a negative slope and one above 1 are written the same way
    model = _prelu_graph([inside, outside, inside])
    fast = prelu_for_nchwc(model)
    ops = [n.op_type for n in fast.graph.node]
    assert "PRelu" not in ops and ops.count("Conv") == 6 and ops.count("Relu") == 3 and ops.count("Add") == 3
    assert {i.name for i in fast.graph.initializer}.isdisjoint({"a0", "a1", "a2"})  # no orphaned slopes
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32) * 10
    assert np.allclose(_run(fast, x), _run(model, x), rtol=1e-6, atol=1e-5)
    half = to_fp16(prelu_for_nchwc(_prelu_graph([inside])))  # the FP16 file gets the same form and runs
    assert [n.op_type for n in half.graph.node].count("Conv") == 2
    assert np.allclose(_run(half, x), _run(_prelu_graph([inside]), x), atol=0.05)


def test_the_tflite_int8_form_shares_the_rewrite_and_stays_exact_below_slope_1():
    from petface_edge.export.to_tflite import prelu_for_xnnpack

    model = _prelu_graph([np.array([0.0, 0.25, 0.5, 0.9]), np.array([0.1, 0.2, 0.3, 1.5])])
    rewritten = prelu_for_xnnpack(model)
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("PRelu") == 1 and ops.count("Relu") == 1
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    assert np.allclose(_run(rewritten, x), _run(model, x), atol=1e-6)
