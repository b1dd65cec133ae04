"""Calibration sets: deterministic, train split only, stratified, and refused when they do not fit the model."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from petface_edge.calibration.dataset import stratified_pick

from petface_edge import calibration as cal
from petface_edge.data import load_splits, scan_identities, split_identities, write_splits


@pytest.fixture(scope="module")
def splits_file(synth_data, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("calib") / "splits.json"
    scan = scan_identities(synth_data)
    write_splits(path, split_identities(scan, mode="identity", seed=42, data_dir=synth_data), synth_data,
                 mode="identity", seed=42)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_file_and_train_split_only(synth_data, splits_file, tmp_path):
    a = cal.from_splits(synth_data, splits_file, 112, count=100, seed=0).save(tmp_path / "a.zip")
    b = cal.from_splits(synth_data, splits_file, 112, count=100, seed=0).save(tmp_path / "b.zip")
    c = cal.from_splits(synth_data, splits_file, 112, count=100, seed=1).save(tmp_path / "c.zip")
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)
    calib = cal.load(a)
    split = load_splits(splits_file)
    train = {rel for rel, _ in split["train"]}
    held_out = {rel for rel, _ in split["val"] + split["test"]}
    assert len(calib) == 100 and len(set(calib.sources)) == 100
    assert set(calib.sources) <= train
    assert not set(calib.sources) & held_out
    assert calib.pixels.shape == (100, 112, 112, 3) and calib.pixels.dtype == np.uint8


def test_stratified_across_identities():
    items = [(f"pet_{i:02d}/{j}.jpg", f"pet_{i:02d}") for i in range(10) for j in range(i + 1)]
    picked = stratified_pick(items, 25, seed=3)
    counts = {label: sum(1 for _, lab in picked if lab == label) for label in {lab for _, lab in items}}
    sizes = {f"pet_{i:02d}": i + 1 for i in range(10)}
    # Round-robin: a pet gives a k-th image only once every pet with images left has given k-1.
    assert len(picked) == 25 and min(counts.values()) >= 1
    assert all(counts[a] >= counts[b] - 1 or counts[a] == sizes[a] for a in counts for b in counts)
    assert stratified_pick(items, 25, seed=3) == picked


def test_synthetic_set_is_deterministic():
    a, b = cal.synthetic(64, count=12), cal.synthetic(64, count=12)
    assert a.pixels_sha256 == b.pixels_sha256 and a.sources == b.sources
    assert len(set(a.labels)) == 3


@pytest.mark.parametrize("change,message", [
    ({"size": 96}, "96x96 but the model takes 112x112"),
    ({"normalization": "imagenet"}, "normalized 'imagenet'"),
    ({"count": 10}, "has 10 images, at least 64 are needed"),
])
def test_mismatched_set_is_refused(change, message):
    size, count = change.get("size", 112), change.get("count", 64)
    calib = cal.CalibrationSet(np.zeros((count, size, size, 3), np.uint8), ["x"] * count, ["p"] * count)
    calib.normalization = change.get("normalization", calib.normalization)
    with pytest.raises(cal.CalibrationError, match=message):
        calib.check_compatible(112)


def test_corrupt_file_is_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(cal.CalibrationError, match="not a petface calibration file"):
        cal.load(bad)
    with pytest.raises(cal.CalibrationError, match="no such calibration file"):
        cal.load(tmp_path / "missing.zip")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "petface_edge.calibration.cli", *args], capture_output=True, text=True)


def test_cli_writes_a_loadable_set(synth_data, splits_file, tmp_path):
    out = tmp_path / "calib.zip"
    run = _cli("--output", str(out), "--data-dir", str(synth_data), "--splits", str(splits_file), "--count", "64")
    assert run.returncode == 0, run.stderr
    assert "64 images" in run.stdout
    assert len(cal.load(out)) == 64


@pytest.mark.parametrize("args,message", [
    (["--count", "10"], "below the minimum"),
    (["--data-dir", "/nonexistent"], "give both a data directory and its splits.json"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    run = _cli("--output", str(tmp_path / "c.zip"), *args)
    assert run.returncode == 2
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
