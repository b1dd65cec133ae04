"""The benchmark machinery's arithmetic and memory probe (the timed runs themselves are ``pytest benchmarks``)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.machine import Machine
from benchmarks.report import GalleryRow, LatencyRow, Results, format_parity, ratios, render
from benchmarks.rss import measure_peak_rss
from benchmarks.exports import cache_entry, code_hash
from benchmarks.galleries import TEMPLATES_PER_PET, synthetic_gallery
from benchmarks.timing import Timing

MACHINE = Machine(cpu="test cpu", cores=2, sgemm={1: 40e9, 2: 80e9})


def _row(model: str, artifact: str, ms: float, threads: int = 2, macs: int = 221_000_000) -> LatencyRow:
    fmt, precision = artifact.split("-", 1)
    return LatencyRow(model, artifact, fmt, precision, f"{fmt}rt", "passed", threads, 1, macs=macs,
                      timing=Timing((ms / 1e3, ms / 1e3 * 1.2, ms / 1e3 * 0.9), measured=True))


def _results() -> Results:
    results = Results()
    results.latency += [
        _row("mfn-112", "onnx-fp32", 10.0), _row("mfn-112", "onnx-int8", 15.0),
        _row("mfn-112", "tflite-fp32", 8.0), _row("mfn-112", "tflite-int8", 6.0),
        _row("mfn-224", "onnx-fp32", 40.0, macs=884_000_000), _row("mnv3-224", "onnx-fp32", 5.0, macs=84_000_000),
    ]
    results.sdk[("onnx-fp32", "embed_pixels")] = Timing((0.0104,), True)
    results.sdk[("onnx-fp32", "embed_file")] = Timing((0.0125,), True)
    results.sdk[("onnx-fp32", "preprocess")] = Timing((0.0020,), True)
    return results


def test_ratios_come_from_the_recorded_medians() -> None:
    found = {(r.name, r.runtime): r for r in ratios(_results(), MACHINE, "mfn-112", {"mfn224": "mfn-224",
                                                                                      "mnv3": "mnv3-224"})}
    int8_onnx = found[("INT8 / FP32 latency", "onnxrt")]
    assert int8_onnx.value == pytest.approx(1.5) and int8_onnx.met is False
    assert found[("INT8 / FP32 latency", "tflitert")].met is True
    size = found[("MobileFaceNet-112 / MobileFaceNet-224 latency", "onnxrt")]
    assert size.value == pytest.approx(0.25) and size.met is True
    assert found[("MobileFaceNet-112 / MobileNetV3-Small-224 latency", "onnxrt")].value == pytest.approx(2.0)
    overhead = found[("Embedder.embed / Backend.run, decoding excluded", "onnxrt")]
    assert overhead.value == pytest.approx(1.04) and overhead.met is True
    assert found[("preprocessing share of Embedder.embed(file)", "onnxrt")].value == pytest.approx(0.16)
    # Best MAC/s on 2 threads: tflite-int8, 221 M MACs in 6 ms = 36.8 G/s of the 80 G/s SGEMM.
    best = next(r for r in ratios(_results(), MACHINE, "mfn-112", {}) if r.name.startswith("best") and r.threads == 2)
    assert "tflite-int8" in best.name and best.value == pytest.approx(221e6 / 0.006 / 80e9)


def test_render_names_machine_and_marks_smoke_runs() -> None:
    results = _results()
    results.latency.append(LatencyRow("mfn-112", "coreml-fp32", "coreml", "fp32", "", "skipped: cannot run CoreML on "
                                      "this OS", 2, 1))
    results.gallery.append(GalleryRow(10_000, "exact", Timing((0.001, 0.002), True), 5 << 20, 0.1))
    text = render(results, MACHINE, "python -m pytest benchmarks", "quick", "mfn-112", {})
    assert "test cpu, 2 cores" in text and "`python -m pytest benchmarks`" in text
    assert "| mfn-112 | onnx | fp32 | onnxrt | passed |" in text and "cannot run CoreML on this OS" in text
    assert "Smoke run" not in text
    results.latency[0].timing = Timing((0.01,), measured=False)
    assert "Smoke run" in render(results, MACHINE, "cmd", "smoke", "mfn-112", {})


def test_format_parity_reads_cosine_keys() -> None:
    assert format_parity({"cos_mean": 0.999991, "cos_min": 0.99990, "top1_agreement": 1.0}) == "0.99999 / 0.99990"
    assert format_parity({}) == "-"


def test_synthetic_gallery_is_shaped_like_pets() -> None:
    data = synthetic_gallery(1000, queries=50)
    assert data.templates.shape == (1000 // TEMPLATES_PER_PET, TEMPLATES_PER_PET, 128)
    assert np.allclose(np.linalg.norm(data.templates, axis=-1), 1.0, atol=1e-5)
    same = np.einsum("d,d->", data.templates[0, 0], data.templates[0, 1])
    other = data.templates[1:, 0] @ data.templates[0, 0]
    assert 0.4 < same < 0.8 and abs(other.mean()) < 0.05
    # The same arguments give the same gallery.
    assert np.array_equal(synthetic_gallery(1000, queries=50).queries, data.queries)


def test_cache_key_follows_the_producer_code(tmp_path) -> None:
    (tmp_path / "export").mkdir()
    source = tmp_path / "export" / "to_onnx.py"
    source.write_text("OPSET = 18\n")
    key = code_hash(tmp_path, {"formats": ["onnx"]})
    assert code_hash(tmp_path, {"formats": ["onnx"]}) == key
    assert code_hash(tmp_path, {"formats": ["onnx", "tflite"]}) != key
    source.write_text("OPSET = 17\n")
    assert code_hash(tmp_path, {"formats": ["onnx"]}) != key
    # A new key makes the old entry of that name unreachable, so it is deleted; other names stay.
    cache = tmp_path / "cache"
    for name in ("demo-aaaa11112222", "demo-bbbb33334444", "mobilefacenet-224-onnx-cccc55556666"):
        (cache / name).mkdir(parents=True)
    assert cache_entry(cache, "demo", "bbbb33334444") == cache / "demo-bbbb33334444"
    assert sorted(p.name for p in cache.iterdir()) == ["demo-bbbb33334444", "mobilefacenet-224-onnx-cccc55556666"]


def test_peak_rss_is_measured_in_a_fresh_process(exported) -> None:
    rss = measure_peak_rss(exported.export / "manifest.json", "onnx-fp32", threads=1, batches=[1, 2])
    # A forked child inherits no peak from this (torch-sized) process: it starts near a bare interpreter.
    assert 0 < rss["before_load"] < 200 << 20
    assert rss["before_load"] < rss["peak"] < 2 << 30


def test_gallery_ratios_hold_auto_to_exact_and_check_the_1m_targets() -> None:
    def row(size, search, ms, auto, **kw):
        return GalleryRow(size, search, Timing((ms / 1e3,) * 3, True), kw.pop("memory", 1 << 20), 1.0,
                          auto=auto, float_bytes=size * 512, **kw)

    results = _results()
    results.gallery += [row(10_000, "exact (numpy)", 1.0, True), row(10_000, "indexed (lists)", 2.0, False, recall_at_1=1.0),
                        row(1_000_000, "exact (numpy)", 20.0, False),
                        row(1_000_000, "indexed (lists)", 2.5, True, recall_at_1=0.9995, load_s=3.0,
                            memory=int(1.2 * 512_000_000))]
    results.latency.append(_row("mfn-112", "onnx-fp32", 10.0, threads=1))
    results.sdk[("default", "embed_pixels")] = Timing((0.0042,), True)
    results.sdk[("best", "embed_pixels")] = Timing((0.0040,), True)
    found = {r.name: r for r in ratios(results, MACHINE, "mfn-112", {})}
    assert found["search='auto' (exact) / exact p50, 10,000 templates"].value == pytest.approx(1.0)
    assert found["indexed / exact p50, 10,000 templates"].value == pytest.approx(2.0)
    assert found["search='auto' (indexed) / exact p50, 1,000,000 templates"].value == pytest.approx(0.125)
    assert found["indexed identify p50 ms, 1,000,000"].met and found["indexed recall@1 vs exact, 1,000,000"].met
    assert found["Gallery.load s, 1,000,000"].met
    assert found["loaded gallery RSS / float32 template bytes, 1,000,000"].value == pytest.approx(1.2)
    assert found["Embedder.open(export_dir) / fastest artifact and threads, Embedder.embed"].value == pytest.approx(1.05)
    # onnxruntime FP32 at 1 thread against the 1-thread SGEMM: 221 M MACs in 10 ms = 22.1 G/s of 40 G/s.
    assert found["onnxruntime FP32 MAC/s / SGEMM MAC/s"].value == pytest.approx(0.5525)
    assert "| 1,000,000 | indexed (lists) | yes | ok |" in render(results, MACHINE, "cmd", "full", "mfn-112", {})
