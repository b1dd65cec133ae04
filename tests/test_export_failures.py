"""petface-export failure paths: clear one-line errors before any conversion, and a converter crash
that costs only its own format. Each exports at most one cheap format from an untrained checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from petface_edge.export import ExportError, export_model
from petface_edge.export.worker import CRASH_ENV

from petface_edge import calibration as cal


def _export(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """petface-export on synthetic images (an untrained checkpoint has no training run beside it)."""
    return subprocess.run([sys.executable, "-m", "petface_edge.export.cli", *args, "--data", "synthetic"],
                          capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def _one_line_error(run: subprocess.CompletedProcess, text: str) -> None:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith("petface-export: error:") and text in lines[0]


def test_checkpoint_that_is_not_an_embedder(tmp_path):
    bogus = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, bogus)
    _one_line_error(_export("--checkpoint", str(bogus), "--output-dir", str(tmp_path / "out")),
                    "not a petface embedder checkpoint")
    assert not (tmp_path / "out").exists()


def test_unknown_format(untrained_checkpoint, tmp_path):
    _one_line_error(_export("--checkpoint", str(untrained_checkpoint), "--output-dir", str(tmp_path), "--formats",
                            "onnx", "keras"), "invalid choice: 'keras'")
    with pytest.raises(ExportError, match="unknown format 'keras'"):
        export_model(untrained_checkpoint, tmp_path, formats=["keras"], data="synthetic")


def test_unwritable_output_dir(untrained_checkpoint, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    _one_line_error(_export("--checkpoint", str(untrained_checkpoint), "--output-dir", str(blocker / "out")),
                    "output directory is not writable")


def test_image_size_must_match_checkpoint(untrained_checkpoint, tmp_path):
    _one_line_error(_export("--checkpoint", str(untrained_checkpoint), "--output-dir", str(tmp_path), "--image-size",
                            "112"), "trained at 64x64")


@pytest.mark.parametrize("count,size,message", [(80, 112, "112x112 but the model takes 64x64"),
                                                 (20, 64, "has 20 images, at least 64 are needed")])
def test_int8_with_unfit_calibration_fails_before_conversion(untrained_checkpoint, tmp_path, count, size, message):
    calib = cal.CalibrationSet(np.zeros((count, size, size, 3), np.uint8), ["x"] * count, ["p"] * count)
    path = calib.save(tmp_path / "calib.zip")
    out = tmp_path / "out"
    _one_line_error(_export("--checkpoint", str(untrained_checkpoint), "--output-dir", str(out), "--formats",
                            "onnx", "--int8", "--calibration", str(path)), message)
    assert not list(out.glob("pet_embedder_*")) and not (out / "manifest.json").exists()


def test_converter_crash_costs_only_its_format(untrained_checkpoint, tmp_path):
    out = tmp_path / "out"
    run = _export("--checkpoint", str(untrained_checkpoint), "--output-dir", str(out), "--formats", "onnx",
                  "torchscript", "--verify-images", "8", env={CRASH_ENV: "torchscript"})
    assert run.returncode == 1, run.stderr
    assert "torchscript: start" in run.stderr and "torchscript: end" in run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {a["id"]: a for a in manifest["artifacts"]}
    assert rows["onnx-fp32"]["status"] == "passed"
    assert rows["torchscript-fp32"]["status"] == "failed export"
    assert "crashed (signal SIGSEGV)" in rows["torchscript-fp32"]["error"]
    assert manifest["verification"]["ship"] == ["onnx-fp32"]
    report = (out / "report.md").read_text()
    assert "| torchscript | fp32 | failed export |" in report and "| onnx | fp32 | passed |" in report


def test_network_guard_blocks_and_counts():
    code = ("import socket\nfrom petface_edge.export import offline\noffline.block_network()\n"
            "try:\n    socket.create_connection(('github.com', 443), timeout=1)\nexcept offline.NetworkBlocked:\n"
            "    print(len(offline.ATTEMPTS))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "1", run.stderr
