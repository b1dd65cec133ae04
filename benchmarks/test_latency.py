"""Latency per artifact x runtime x threads x batch, and each artifact's peak session memory.

Every artifact runs through ``open_backend`` and ``runtime.contract``, the way the SDK,
the verifier and the evaluation suite run it. The timed call is ``Backend.run`` on a
tensor already in the artifact's contract; what the SDK adds on top is measured in
``test_sdk.py``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from petface_edge.runtime.backends import BackendError, open_backend
from petface_edge.runtime.contract import from_output_tensor, to_input_tensor
from petface_edge.runtime.manifest import FAILED_EXPORT, Artifact

from .conftest import Bench, Model
from .report import ALL, LatencyRow, format_parity
from .rss import measure_peak_rss
from .timing import SMOKE, measure

# Every artifact id petface-export can ship (Contracts item 3); absent ones become "not exported" rows.
ARTIFACT_IDS = (
    "onnx-fp32", "onnx-fp16", "onnx-int8",
    "tflite-fp32", "tflite-fp16", "tflite-int8", "tflite-int8-float-io", "tflite-dynamic-range",
    "executorch-fp32", "executorch-int8",
    "coreml-fp32", "coreml-fp16", "coreml-w8", "coreml-w8a8",
    "torchscript-fp32", "torchscript-int8",
)
COMPARISON_IDS = ("onnx-fp32", "tflite-fp32", "torchscript-fp32")
BATCHES = (1, 8)
SMOKE_RSS_ARTIFACT = "onnx-fp32"  # a fresh process per artifact is too slow for the smoke run: one proves the path
THREADS = (1, ALL)


def _artifact(bench: Bench, model: Model, artifact_id: str, threads: int, batch: int) -> Artifact:
    """The manifest entry, or a recorded row saying why it cannot be measured, and a skip."""
    try:
        artifact = model.manifest.artifact(artifact_id)
    except KeyError:
        artifact = None
    if artifact is None or artifact.status == FAILED_EXPORT:
        fmt, precision = artifact_id.split("-", 1)
        status = "not exported" if artifact is None else f"failed export: {artifact.error}"
        bench.results.latency.append(LatencyRow(model.name, artifact_id, fmt, precision, "", status, threads, batch))
        pytest.skip(f"{model.name} {artifact_id}: {status}")
    return artifact


def _row(model: Model, artifact: Artifact, runtime: str, status: str, threads: int, batch: int, **figures) -> LatencyRow:
    return LatencyRow(model.name, artifact.id, artifact.format, artifact.precision, runtime, status, threads, batch,
                      size_bytes=artifact.bytes, parity=format_parity(artifact.parity), **figures)


def _open(bench: Bench, model: Model, artifact: Artifact, threads: int, batch: int):
    """The artifact loaded in its runtime; CoreML off macOS is a recorded skip, any other load failure an error."""
    path = model.manifest.path_of(artifact)
    try:
        return open_backend(path, threads=threads)
    except BackendError as exc:
        unsupported = artifact.format == "coreml" and sys.platform != "darwin"
        why = str(exc).removeprefix(f"{path}: ")  # the row already names the artifact
        bench.results.latency.append(_row(model, artifact, "", f"{'skipped' if unsupported else 'error'}: {why}",
                                          threads, batch))
        if unsupported:
            pytest.skip(why)
        raise


def _effective_batch(backend, batch: int) -> int | None:
    """Batch 8 becomes the artifact's fixed batch; a configuration the fixed batch makes redundant is None."""
    fixed = backend.fixed_batch
    if fixed is None:
        return batch
    if batch == 1:
        return 1 if fixed == 1 else None
    return fixed if fixed != 1 else None


def bench_artifact(benchmark, bench: Bench, model: Model, artifact_id: str, threads_setting, batch: int) -> None:
    threads = bench.threads(threads_setting)
    artifact = _artifact(bench, model, artifact_id, threads, batch)
    backend = _open(bench, model, artifact, threads, batch)
    try:
        _bench_backend(benchmark, bench, model, artifact, backend, threads, batch)
    finally:
        backend.close()  # now, not at garbage collection: an open ExecuTorch program pins its shared thread pool


def _bench_backend(benchmark, bench: Bench, model: Model, artifact: Artifact, backend, threads: int,
                   batch: int) -> None:
    effective = _effective_batch(backend, batch)
    if effective is None:
        fixed = backend.fixed_batch
        pytest.skip(f"{artifact.id} has fixed batch {fixed}: covered by its batch-{fixed} row")
    x = to_input_tensor(model.pixels[np.arange(effective) % len(model.pixels)], artifact.input)
    benchmark.group = f"{model.name} threads={threads} batch={effective}"
    benchmark.extra_info.update(model=model.name, artifact=artifact.id, threads=threads, batch=effective,
                                macs=model.macs)
    timing = measure(benchmark, lambda: backend.run(x), bench.mode)
    embeddings = from_output_tensor(backend.run(x), artifact.output)
    assert embeddings.shape == (effective, artifact.output.dim), f"{artifact.id}: output shape {embeddings.shape}"
    assert np.isfinite(embeddings).all(), f"{artifact.id}: non-finite embeddings"
    bench.results.latency.append(_row(model, artifact, backend.name, artifact.status, threads, effective,
                                      macs=model.macs, timing=timing))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("artifact_id", ARTIFACT_IDS)
def test_demo_latency(benchmark, bench: Bench, demo: Model, artifact_id: str, threads, batch: int) -> None:
    bench_artifact(benchmark, bench, demo, artifact_id, threads, batch)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("artifact_id", COMPARISON_IDS)
@pytest.mark.parametrize("model", ("mobilefacenet-224", "mobilenetv3_small_100-224"))
def test_comparison_latency(benchmark, bench: Bench, comparisons: dict[str, Model], model: str, artifact_id: str,
                            threads, batch: int) -> None:
    target = comparisons[model]
    if artifact_id not in {a.id for a in target.manifest.artifacts}:
        pytest.skip(f"{model}: {artifact_id} is built for comparison models in full mode only")
    bench_artifact(benchmark, bench, target, artifact_id, threads, batch)


def _rss(bench: Bench, model: Model, artifact_id: str) -> None:
    artifact = next((a for a in model.manifest.artifacts if a.id == artifact_id), None)
    if artifact is None or artifact.status == FAILED_EXPORT:
        pytest.skip(f"{model.name} {artifact_id}: not exported")
    if artifact.format == "coreml" and sys.platform != "darwin":
        pytest.skip("cannot run CoreML on this OS")
    batches = (1, artifact.input.batch) if artifact.input.batch else BATCHES
    rss = measure_peak_rss(model.manifest.directory / "manifest.json", artifact_id, bench.machine.cores,
                           sorted(set(batches)))
    assert rss["peak"] >= rss["before_load"] > 0
    bench.results.rss[(model.name, artifact_id)] = rss


@pytest.mark.parametrize("artifact_id", ARTIFACT_IDS)
def test_demo_peak_rss(bench: Bench, demo: Model, artifact_id: str) -> None:
    if bench.mode is SMOKE and artifact_id != SMOKE_RSS_ARTIFACT:
        pytest.skip(f"smoke run: peak RSS (a fresh process per artifact) is measured for {SMOKE_RSS_ARTIFACT} only")
    _rss(bench, demo, artifact_id)


@pytest.mark.parametrize("artifact_id", COMPARISON_IDS)
@pytest.mark.parametrize("model", ("mobilefacenet-224", "mobilenetv3_small_100-224"))
def test_comparison_peak_rss(bench: Bench, comparisons: dict[str, Model], model: str, artifact_id: str) -> None:
    if bench.mode is SMOKE:
        pytest.skip(f"smoke run: peak RSS (a fresh process per artifact) is measured for {SMOKE_RSS_ARTIFACT} only")
    _rss(bench, comparisons[model], artifact_id)
