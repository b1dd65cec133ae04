"""Fail-closed export: NaN outputs fail with a reason, one artifact's crash costs only that artifact, and the
manifest always describes the files beside it. Real exports of a small untrained checkpoint (ONNX and
TorchScript only: the cheap converters)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from PIL import Image
from petface_edge.export import exporter
from petface_edge.export.exporter import export_model
from petface_edge.export.verify import GATES, failures

from petface_edge import Embedder
from petface_edge.runtime.artifacts import ModelError
from petface_edge.runtime.backends import open_backend
from petface_edge.runtime.manifest import FAILED_PARITY, PASSED, Manifest


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


def test_nan_artifact_fails_verification_with_its_reason(untrained_checkpoint, tmp_path):
    manifest = _synthetic_export(untrained_checkpoint, tmp_path / "out")
    art = manifest.artifact("onnx-fp32")
    assert art.status == PASSED, art.error
    poison_onnx(manifest.path_of(art))
    refs = exporter.References(*_held_out(untrained_checkpoint))
    exporter.verify_artifact(art, manifest.path_of(art), "fp32", refs, {})
    assert art.status == FAILED_PARITY
    assert art.error.startswith("outputs contain NaN or infinity on 16 of 16 parity images"), art.error
    # The NaN file sits in a passed entry's path: the runtime refuses it however it is opened.
    for ref in (manifest.directory, manifest.directory / "manifest.json", manifest.path_of(art)):
        with pytest.raises(ModelError, match="pet_embedder_fp32.onnx: sha256 .* differs from manifest entry"):
            Embedder.open(ref)


@pytest.fixture(scope="module")
def two_onnx(untrained_checkpoint, tmp_path_factory) -> Path:
    """An export with onnx-fp32 and onnx-fp16 (kept pristine: tests copy it)."""
    out = tmp_path_factory.mktemp("two") / "export"
    _synthetic_export(untrained_checkpoint, out, fp16=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(out.parent / "a.png")
    return out


def _petface(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "petface_edge.runtime.cli", *args], capture_output=True, text=True)


def test_a_swapped_artifact_is_refused_on_every_load_path(two_onnx, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(two_onnx, export)
    image = str(two_onnx.parent / "a.png")
    assert _petface("embed", str(export / "pet_embedder_fp32.onnx"), image).returncode == 0
    shutil.copy(export / "pet_embedder_fp16.onnx", export / "pet_embedder_fp32.onnx")  # another artifact's bytes
    for ref in (export, export / "manifest.json", export / "pet_embedder_fp32.onnx"):
        for command in (["info", str(ref)], ["embed", str(ref), image]):
            run = _petface(*command)
            assert run.returncode == 2 and run.stdout == "", (command, run.stdout, run.stderr)
            lines = run.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
            assert "pet_embedder_fp32.onnx: sha256" in lines[0]
            assert "differs from manifest entry 'onnx-fp32'" in lines[0]


def test_the_fingerprint_is_the_files_own_cross_checked(two_onnx, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(two_onnx, export)
    manifest = Manifest.load(export)
    with Embedder.open(export) as embedder:
        assert embedder.fingerprint == manifest.fingerprint == open_backend(
            export / "pet_embedder_fp32.onnx").metadata["checkpoint_sha256"]
    raw = json.loads((export / "manifest.json").read_text())
    raw["model"]["checkpoint_sha256"] = "0" * 64  # the manifest claims other weights than the files carry
    (export / "manifest.json").write_text(json.dumps(raw))
    for ref in (export, export / "pet_embedder_fp32.onnx"):
        with pytest.raises(ModelError, match="embedded fingerprint .* differs from the manifest's 000000000000"):
            Embedder.open(ref)


def test_a_bare_artifact_is_not_verified_and_has_no_default_threshold(two_onnx, tmp_path):
    bare = tmp_path / "pet_embedder_fp32.onnx"
    shutil.copy(two_onnx / bare.name, bare)
    with Embedder.open(bare) as embedder:
        assert embedder.artifact.status == "not verified" and embedder.threshold is None
        assert "status: not verified" in embedder.describe()
    run = _petface("compare", str(bare), str(two_onnx.parent / "a.png"), str(two_onnx.parent / "a.png"))
    assert run.returncode == 2 and "no verify calibration" in run.stderr and "pass a raw threshold" in run.stderr


def _held_out(checkpoint: Path):
    from petface_edge.export.verify import held_out_sets, reference_embeddings
    from petface_edge.export.thresholds import thresholds

    from petface_edge.models import load_embedder

    model = load_embedder(checkpoint)
    parity_set, threshold_set = held_out_sets(64, 16, None, None)
    ref_t = reference_embeddings(model, threshold_set.pixels)
    return (parity_set, reference_embeddings(model, parity_set.pixels), threshold_set,
            thresholds(ref_t, threshold_set.labels, threshold_set.source))


def test_a_raising_verification_costs_only_its_artifact(untrained_checkpoint, tmp_path, monkeypatch):
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
    manifest = _synthetic_export(untrained_checkpoint, out, formats=("onnx", "torchscript"), fp16=True)
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


def test_an_interrupted_export_leaves_no_old_manifest(untrained_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _synthetic_export(untrained_checkpoint, out)
    assert (out / "manifest.json").exists()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exporter, "_run_converter", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _synthetic_export(untrained_checkpoint, out)
    assert not (out / "manifest.json").exists() and not (out / "report.md").exists()
    assert not (out / "pet_embedder_fp32.onnx").exists()


def test_a_newer_minor_manifest_opens_and_keeps_its_fields(two_onnx, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(two_onnx, export)
    raw = json.loads((export / "manifest.json").read_text())
    assert (raw["schema_version"], raw["schema_minor"]) == (1, 1)
    raw.update(schema_minor=99, future_section={"a": 1})
    raw["artifacts"][0]["identify_thresholds"] = [{"gallery_size": 10, "threshold": 0.5}]
    raw["artifacts"][0]["input"]["future_hint"] = "x"
    (export / "manifest.json").write_text(json.dumps(raw))
    with Embedder.open(export) as embedder:
        assert embedder.artifact.id == "onnx-fp32" and embedder.threshold is not None
    manifest = Manifest.load(export)
    manifest.save(tmp_path / "rewritten.json")  # a rewrite (e.g. petface-verify) loses nothing
    assert json.loads((tmp_path / "rewritten.json").read_text()) == raw


def test_another_major_schema_is_refused_in_one_line(two_onnx, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(two_onnx, export)
    raw = json.loads((export / "manifest.json").read_text())
    (export / "manifest.json").write_text(json.dumps({**raw, "schema_version": 2}))
    run = _petface("info", str(export))
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "manifest schema version 2 is not supported: this petface-edge reads version 1 (any minor)" in run.stderr


def _verify_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from petface_edge.export.cli import verify_main; "
                           "sys.exit(verify_main())", *args], capture_output=True, text=True)


def test_verify_rechecks_an_export_in_place(two_onnx, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(two_onnx, export)
    raw = json.loads((export / "manifest.json").read_text())
    raw["artifacts"][1].update(status="failed parity", error="stale status from an older gate")
    (export / "manifest.json").write_text(json.dumps(raw))
    run = _verify_cli(str(export))
    assert run.returncode == 0, run.stderr
    assert "onnx-fp16: failed parity -> passed" in run.stderr
    manifest = Manifest.load(export)
    assert [a.status for a in manifest.artifacts] == [PASSED, PASSED]
    assert manifest.verification["ship"] == ["onnx-fp32", "onnx-fp16"] and "reverified" in manifest.verification
    assert manifest.verification["parity_images"] == 16  # the same held-out images as the export
    assert manifest.artifact("onnx-fp16").sha256 == raw["artifacts"][1]["sha256"]  # nothing was re-converted
    assert "| onnx | fp16 | passed |" in (export / "report.md").read_text()
    poison_onnx(export / "pet_embedder_fp32.onnx")  # a changed file is never re-blessed
    run = _verify_cli(str(export))
    assert run.returncode == 1, run.stderr
    row = Manifest.load(export).artifact("onnx-fp32")
    assert row.status == FAILED_PARITY and "the file changed after export" in row.error


def test_verify_refuses_a_missing_or_changed_checkpoint(untrained_checkpoint, two_onnx, tmp_path):
    changed = tmp_path / "pet_embedder.pt"
    changed.write_bytes(untrained_checkpoint.read_bytes() + b"\0")
    before = (two_onnx / "manifest.json").read_bytes()
    for given, message in ((tmp_path / "gone.pt", "is missing: the export cannot be re-verified"),
                           (changed, "changed since the export (sha256")):
        run = _verify_cli(str(two_onnx), "--checkpoint", str(given))
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert message in run.stderr and "Traceback" not in run.stderr
    assert (two_onnx / "manifest.json").read_bytes() == before
