"""The measured default: Embedder.open(export_dir) runs the pair measured fastest here, says why, and caches it."""

import json
import shutil

import numpy as np
import pytest

from petface_edge import Embedder
from petface_edge.runtime import speed
from petface_edge.runtime.artifacts import ModelError, rank_candidates
from petface_edge.runtime.manifest import Manifest


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PETFACE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(speed, "machine_load", lambda: 0.1)  # a quiet machine, whatever make test runs beside
    return tmp_path / "cache"


def _table(manifest, figures):
    """Write the cache entry ``choose`` will read, with the given (artifact, threads) -> ms figures."""
    candidates = rank_candidates(manifest, "auto")
    counts = sorted({1, speed.machine_threads()})
    path = speed._cache_path(manifest, candidates, counts)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"artifact": a, "threads": t, "ms": ms} for (a, t), ms in figures.items()]
    path.write_text(json.dumps({"version": speed.CACHE_VERSION, "measured": "then", "machine": {}, "rows": rows}))
    return path


def test_first_open_measures_then_reads_the_cache(exported, cache):
    embedder = Embedder.open(exported.export)
    (table,) = cache.glob("speed-*.json")
    rows = json.loads(table.read_text())["rows"]
    times = {(r["artifact"], r["threads"]): r["ms"] for r in rows}
    assert (embedder.artifact.id, embedder.threads) in times
    assert times[(embedder.artifact.id, embedder.threads)] <= min(times.values()) * speed.TOLERANCE
    assert embedder.chosen_because.startswith(f"chosen: {embedder.artifact.id} on {embedder.threads} thread")
    assert "measured now" in embedder.describe() and str(table) in embedder.describe()
    again = Embedder.open(exported.export)
    assert (again.artifact.id, again.threads) == (embedder.artifact.id, embedder.threads)
    assert "measured now" not in again.chosen_because and str(table) in again.chosen_because
    # An explicit choice is not measured; its thread count defaults to the machine's cores.
    named = Embedder.open(exported.export, backend="onnx-fp32")
    assert named.threads == speed.machine_threads() and named.chosen_because == "backend='onnx-fp32' as asked"
    assert len(list(cache.glob("speed-*.json"))) == 1


def test_the_most_faithful_of_the_equally_fast_wins(exported, cache):
    manifest = Manifest.load(exported.export)
    cores = speed.machine_threads()
    _table(manifest, {("tflite-fp32", 1): 4.0, ("tflite-fp16", 1): 3.9, ("onnx-fp32", cores): 8.0})
    e = Embedder.open(exported.export)
    assert (e.artifact.id, e.threads) == ("tflite-fp32", 1)  # 2.5% slower than fp16: counts as equal
    _table(manifest, {("tflite-fp32", 1): 4.0, ("tflite-fp16", 1): 3.0, ("onnx-fp32", cores): 2.0})
    e = Embedder.open(exported.export)
    assert (e.artifact.id, e.threads) == ("onnx-fp32", cores)
    assert "onnx-fp32 on" in e.describe() and "tflite-fp16 x1 3.00 ms" in e.describe()


def test_a_damaged_cache_is_measured_again_and_a_changed_file_is_never_chosen(exported, cache, tmp_path):
    manifest = Manifest.load(exported.export)
    path = _table(manifest, {("tflite-fp32", 1): float("nan")})
    e = Embedder.open(exported.export)
    assert "measured now" in e.chosen_because and json.loads(path.read_text())["rows"][0]["ms"] > 0
    # A file changed after export is refused before anything is measured or run; a missing one is skipped.
    copy = tmp_path / "export"
    shutil.copytree(exported.export, copy)
    target = copy / manifest.path_of(manifest.artifact(e.artifact.id)).name
    original = target.read_bytes()
    target.write_bytes(original[:-16] + bytes(16))
    with pytest.raises(ModelError, match="changed after export"):
        Embedder.open(copy)
    target.unlink()
    other = Embedder.open(copy)
    assert other.artifact.id != e.artifact.id and "file missing" in dict(other.skipped)[e.artifact.id]
    assert np.isfinite(other.embed(np.zeros((112, 112, 3), np.uint8))).all()


def test_a_table_measured_on_a_busy_machine_is_measured_again_until_quiet(exported, cache, monkeypatch):
    loads = iter([2.0, 3.0, 1.5, 0.2])
    monkeypatch.setattr(speed, "machine_load", lambda: next(loads))
    first = Embedder.open(exported.export)
    (path,) = cache.glob("speed-*.json")
    assert "measured now at load 2.00 per core (busy: measured again at an open 10 min on or later, attempt 1 of 3)" \
        in first.chosen_because
    soon = Embedder.open(exported.export)  # seconds later: the same table, the same choice
    assert (soon.artifact.id, soon.threads) == (first.artifact.id, first.threads)
    assert json.loads(path.read_text())["attempt"] == 1
    monkeypatch.setattr(speed, "REMEASURE_AFTER_S", 0)  # as if 10 minutes had passed
    second = Embedder.open(exported.export)  # busier still: the first table stays, the attempt counts
    table = json.loads(path.read_text())
    assert (table["load"], table["attempt"]) == (2.0, 2) and "measured now" not in second.chosen_because
    third = Embedder.open(exported.export)  # quieter: replaces it; the last attempt, so it is final
    table = json.loads(path.read_text())
    assert (table["load"], table["attempt"]) == (1.5, 3) and "measured now at load 1.50" in third.chosen_because
    assert "busy" not in third.chosen_because
    Embedder.open(exported.export)  # no fourth measurement: the 0.2 reading is never taken
    assert next(loads) == 0.2
