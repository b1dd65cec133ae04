"""The INT8 gate judges retrieval by a significant Recall@1 drop, on the user's own test split: a model
quantized with a deliberately bad calibration fails it, the shipped one passes. Real quantization
(onnxruntime static QDQ) of the pipeline model, verified in onnxruntime like every export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from petface_edge.export import exporter
from petface_edge.export.datasource import DataSourceError, resolve
from petface_edge.export.verify import GATES, failures, held_out_sets, mcnemar_p

from petface_edge.runtime.manifest import FAILED_PARITY, PASSED, Manifest, artifact_from_dict


@pytest.mark.parametrize("drop,worse,better,passes", [
    (0.4, 4, 0, True),  # within 0.5 point: passes, however significant
    (1.9, 19, 0, True),  # under the 2-point bound
    (2.5, 25, 0, False),  # over the bound and far from chance
    (3.3, 2, 0, True),  # two flips of 60 queries: over the bound, but chance explains it (p 0.25)
    (8.3, 5, 0, False),  # five flips one way of 60: p 0.03
])
def test_the_recall_gate_fails_only_a_significant_drop_over_two_points(drop, worse, better, passes):
    stats = {"cos_mean": 0.999, "cos_p1": 0.99, "acc_drop_points": 0.0, "recall1_drop_points": drop,
             "recall1_drop_p": mcnemar_p(worse, better)}
    assert (not failures(stats, GATES["int8"])) == passes, failures(stats, GATES["int8"])


def test_an_accuracy_drop_over_its_bound_fails_only_when_significant():
    base = {"cos_mean": 0.999, "cos_p1": 0.99, "recall1_drop_points": 0.0, "recall1_drop_p": 1.0}
    assert not failures({**base, "acc_drop_points": 1.03, "acc_drop_p": 0.2}, GATES["int8"])
    assert failures({**base, "acc_drop_points": 1.03, "acc_drop_p": 0.01}, GATES["int8"]) == [
        "acc_drop_points 1.03 > 1.0 (p 0.01 < 0.05)"]
    assert failures({**base, "acc_drop_points": 1.03}, GATES["int8"]) == [
        "acc_drop_points 1.03 > 1.0 (no significance measured)"]


def test_mcnemar_is_exact():
    assert mcnemar_p(0, 5) == 1.0
    assert mcnemar_p(2, 0) == 0.25 and mcnemar_p(5, 0) == 1 / 32
    assert mcnemar_p(3, 1) == pytest.approx(5 / 16)


@pytest.fixture(scope="module")
def references(exported) -> exporter.References:
    from petface_edge.models import load_embedder

    source = resolve(exported.checkpoint)
    parity_set, threshold_set = held_out_sets(112, exporter.DEFAULT_VERIFY_IMAGES, source.data_dir, source.splits)
    return exporter.build_references(load_embedder(exported.checkpoint), parity_set, threshold_set)


def _quantize(float_onnx: Path, pixels: np.ndarray, out: Path) -> Path:
    """onnxruntime static QDQ int8 (per-tensor, MinMax) calibrated on ``pixels``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"pixels": pixels[i: i + 8].transpose(0, 3, 1, 2).astype(np.float32)}
                                 for i in range(0, len(pixels), 8)])

        def get_next(self):
            return next(self.batches, None)

    prepared = out.with_suffix(".prepared.onnx")
    quant_pre_process(str(float_onnx), str(prepared))
    quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=False,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return out


def _gate(manifest: Manifest, path: Path, refs: exporter.References):
    art = artifact_from_dict({**manifest.to_dict()["artifacts"][[a.id for a in manifest.artifacts].index("onnx-int8")],
                              "path": path.name})
    exporter.verify_artifact(art, path, "int8", refs, {})
    return art


def test_the_shipped_int8_model_passes_and_a_badly_calibrated_one_fails(exported, references, tmp_path):
    from petface_edge import calibration as cal

    manifest = Manifest.load(exported.export)
    good = _gate(manifest, manifest.path_of(manifest.artifact("onnx-int8")), references)
    assert good.status == PASSED, good.error
    assert good.parity["recall1_drop_points"] <= 2.0 and good.parity["images"] == len(references.parity_set.labels)
    # Deliberately bad calibration: 64 of the train-split images darkened to 1/16 of their brightness, so every
    # activation range is set far too narrow and real photos saturate.
    calib = cal.load(manifest.directory / manifest.verification["calibration"]["path"])
    dark = (calib.pixels[:64] // 16).astype(np.uint8)
    bad_path = _quantize(manifest.path_of(manifest.artifact("onnx-fp32")), dark, tmp_path / "bad_int8.onnx")
    bad = _gate(manifest, bad_path, references)
    assert bad.status == FAILED_PARITY
    assert bad.parity["recall1_drop_points"] > 2.0 and bad.parity["recall1_drop_p"] < 0.05, bad.parity
    assert any(f.startswith("recall1_drop_points") for f in bad.parity["gate_failures"]), bad.error


def test_the_export_used_the_runs_own_whole_test_split(exported):
    manifest = Manifest.load(exported.export)
    split = json.loads(exported.splits.read_text())["splits"]
    data = manifest.verification["data"]
    assert data["kind"] == "dataset" and Path(data["splits"]).resolve() == exported.splits.resolve()
    assert Path(data["data_dir"]).resolve() == exported.data.resolve()
    assert "the training run's own data" in data["how"]
    assert manifest.verification["parity_images"] == len(split["test"])
    assert "the whole test split" in manifest.verification["parity_source"]
    report = (exported.export / "report.md").read_text()
    assert f"- data: {data['description']}\n" in report


def test_no_run_data_and_no_flag_is_a_clear_error(exported, tmp_path):
    lonely = tmp_path / "pet_embedder.pt"
    lonely.write_bytes(exported.checkpoint.read_bytes())
    with pytest.raises(DataSourceError, match="no training run beside it"):
        resolve(lonely)
    run = subprocess.run([sys.executable, "-m", "petface_edge.export.cli", "--checkpoint", str(lonely),
                          "--output-dir", str(tmp_path / "out"), "--formats", "tflite", "coreml", "--int8"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "no training run beside it (config.json, splits.json missing" in run.stderr
    assert "pass --data-dir DIR --splits SPLITS.json for your own data, or --data synthetic" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_run_whose_data_directory_is_gone_is_a_clear_error(exported, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("pet_embedder.pt", "config.json"):
        (run_dir / name).write_bytes((exported.run / name).read_bytes())
    splits = json.loads(exported.splits.read_text())
    (run_dir / "splits.json").write_text(json.dumps({**splits, "data_dir": str(tmp_path / "moved")}))
    with pytest.raises(DataSourceError, match=f"its data directory {tmp_path / 'moved'} does not exist here"):
        resolve(run_dir / "pet_embedder.pt")
    assert resolve(run_dir / "pet_embedder.pt", data="synthetic").kind == "synthetic"
