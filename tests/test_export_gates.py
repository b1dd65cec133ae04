"""Fail-closed export: NaN outputs fail with a reason, one artifact's crash costs only that artifact, and the
manifest always describes the files beside it. Real exports of a small untrained checkpoint (ONNX and
TorchScript only: the cheap converters)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from petface_edge.export import exporter
from petface_edge.export.exporter import export_model
from petface_edge.export.verify import GATES, failures

from petface_edge.models import create_embedder, save_embedder
from petface_edge.runtime.manifest import FAILED_PARITY, PASSED, Manifest


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_embedder("mobilefacenet", image_size=64)
    with torch.no_grad():  # a few train-mode batches give BatchNorm realistic running statistics
        for _ in range(3):
            model(torch.rand(8, 3, 64, 64) * 255)
    return save_embedder(model.eval(), tmp_path_factory.mktemp("ckpt") / "pet_embedder.pt")


def _synthetic_export(checkpoint: Path, out: Path, formats=("onnx",), fp16=False) -> Manifest:
    return export_model(checkpoint, out, formats=formats, fp16=fp16, data="synthetic", verify_images=16,
                        progress=False)


def poison_onnx(path: Path, value: float = math.nan) -> None:
    """Multiply the ONNX model's output by ``value`` (NaN: every output NaN), in place."""
    model = onnx.load(path)
    out = model.graph.output[0]
    raw = out.name + "_raw"
    for node in model.graph.node:
        node.output[:] = [raw if o == out.name else o for o in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), "poison"))
    model.graph.node.append(helper.make_node("Mul", [raw, "poison"], [out.name]))
    onnx.save(model, path)


@pytest.mark.parametrize("stats", [{"cos_min": math.nan}, {"cos_min": math.inf}, {}, {"cos_min": None}])
def test_non_finite_or_missing_statistics_fail_every_gate(stats):
    assert failures(stats, GATES["fp32"]) == [f"cos_min {stats.get('cos_min')} is not a finite number"]
    assert failures({"cos_mean": 1.0, "cos_p1": 1.0, "acc_drop_points": math.nan}, {"acc_drop_points": 1.0})


def test_nan_artifact_fails_verification_with_its_reason(checkpoint, tmp_path):
    manifest = _synthetic_export(checkpoint, tmp_path / "out")
    art = manifest.artifact("onnx-fp32")
    assert art.status == PASSED, art.error
    poison_onnx(manifest.path_of(art))
    refs = exporter.References(*_held_out(checkpoint))
    exporter.verify_artifact(art, manifest.path_of(art), "fp32", refs, {})
    assert art.status == FAILED_PARITY
    assert art.error.startswith("outputs contain NaN or infinity on 16 of 16 parity images"), art.error


def _held_out(checkpoint: Path):
    from petface_edge.export.verify import held_out_sets, reference_embeddings
    from petface_edge.export.thresholds import thresholds

    from petface_edge.models import load_embedder

    model = load_embedder(checkpoint)
    parity_set, threshold_set = held_out_sets(64, 16, None, None)
    ref_t = reference_embeddings(model, threshold_set.pixels)
    return (parity_set, reference_embeddings(model, parity_set.pixels), threshold_set,
            thresholds(ref_t, threshold_set.labels, threshold_set.source))


def test_a_raising_verification_costs_only_its_artifact(checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"schema": "petface-manifest", "stale": true}')
    (out / "report.md").write_text("stale report")
    real_open = exporter.open_backend

    def open_backend(path, *args, **kwargs):
        if Path(path).name == "pet_embedder_fp16.onnx":
            raise RuntimeError("injected fault while verifying")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(exporter, "open_backend", open_backend)
    manifest = _synthetic_export(checkpoint, out, formats=("onnx", "torchscript"), fp16=True)
    rows = {a.id: a for a in manifest.artifacts}
    assert rows["onnx-fp16"].status == FAILED_PARITY
    assert rows["onnx-fp16"].error == "verification raised RuntimeError: injected fault while verifying"
    assert {a.id: a.status for a in manifest.artifacts if a.id != "onnx-fp16"} == {
        "onnx-fp32": PASSED, "torchscript-fp32": PASSED}
    # A complete, fresh manifest and report describe exactly the files beside them.
    raw = json.loads((out / "manifest.json").read_text())
    assert "stale" not in raw and [a["id"] for a in raw["artifacts"]] == ["onnx-fp32", "onnx-fp16", "torchscript-fp32"]
    assert raw["verification"]["ship"] == ["onnx-fp32", "torchscript-fp32"]
    report = (out / "report.md").read_text()
    assert "| onnx | fp16 | failed parity |" in report and "injected fault" in report
    assert Manifest.load(out).artifact("onnx-fp32").sha256 == manifest.artifact("onnx-fp32").sha256


def test_an_interrupted_export_leaves_no_old_manifest(checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _synthetic_export(checkpoint, out)
    assert (out / "manifest.json").exists()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exporter, "_run_converter", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _synthetic_export(checkpoint, out)
    assert not (out / "manifest.json").exists() and not (out / "report.md").exists()
    assert not (out / "pet_embedder_fp32.onnx").exists()
