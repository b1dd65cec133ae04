"""What the SDK adds on top of the raw runtime call, at batch 1 on all cores; and what the default path costs.

* ``embed_pixels``: ``Embedder.embed`` on an already decoded and resized HxWx3 array
  (SDK overhead with decoding excluded: input checks, contract conversion, re-normalization);
* ``embed_file``: ``Embedder.embed`` on a JPEG path (decoding and resizing included);
* ``preprocess``: ``petface_edge.preprocess`` alone on the same file (its share of ``embed_file``).

The raw reference is the latency row of the same artifact (``Backend.run``, batch 1, all cores).

``test_default_path``: ``Embedder.open(export_dir)`` with no options against ``Embedder.open`` of the
fastest verified (artifact, threads) pair in this run's latency table, both timed on ``embed``.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import pytest

from petface_edge import Embedder, preprocess
from petface_edge.runtime.backends import open_backend
from petface_edge.runtime.contract import from_output_tensor, to_input_tensor
from petface_edge.runtime.manifest import FAILED_EXPORT

from .conftest import Bench, Model
from .timing import measure

SDK_ARTIFACTS = ("onnx-fp32", "tflite-fp32", "executorch-fp32", "torchscript-fp32")
CASES = ("embed_pixels", "embed_file", "preprocess")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("artifact_id", SDK_ARTIFACTS)
def test_sdk_overhead(benchmark, bench: Bench, demo: Model, artifact_id: str, case: str) -> None:
    artifact = next((a for a in demo.manifest.artifacts if a.id == artifact_id), None)
    if artifact is None or artifact.status == FAILED_EXPORT:
        pytest.skip(f"{demo.name} {artifact_id}: not exported")
    face, pixels = bench.faces[0], demo.pixels[0]
    size = demo.pixels.shape[1]
    with ExitStack() as opened:  # closed at the end: an open ExecuTorch program pins its shared thread pool
        if case == "preprocess":
            fn = lambda: preprocess(face, size)  # noqa: E731
        else:
            embedder = opened.enter_context(
                Embedder.open(demo.manifest.directory, backend=artifact_id, threads=bench.machine.cores))
            assert embedder.artifact.id == artifact_id
            source = pixels if case == "embed_pixels" else face
            fn = lambda: embedder.embed(source)  # noqa: E731
            # The SDK, from a file or from pixels, must give what the raw runtime gives for the same pixels.
            backend = open_backend(demo.manifest.path_of(artifact), threads=bench.machine.cores)
            opened.callback(backend.close)
            raw = from_output_tensor(backend.run(to_input_tensor(pixels[None], artifact.input)), artifact.output)
            for vectors in (embedder.embed(face), embedder.embed(pixels)):
                assert vectors.shape == raw.shape
                assert float(np.dot(vectors[0], raw[0])) > 0.9999
        benchmark.group = f"{demo.name} SDK {artifact_id}"
        benchmark.extra_info.update(model=demo.name, artifact=artifact_id, case=case)
        bench.results.sdk[(artifact_id, case)] = measure(benchmark, fn, bench.mode)


@pytest.mark.parametrize("which", ("best", "default"))
def test_default_path(benchmark, bench: Bench, demo: Model, which: str) -> None:
    rows = [r for r in bench.results.latency if r.model == demo.name and r.ok and r.batch == 1 and r.device == "cpu"
            and demo.manifest.artifact(r.artifact).shippable]
    if not rows:
        pytest.skip(f"{demo.name}: no verified artifact was measured in this run")
    best = min(rows, key=lambda r: r.timing.median)
    if which == "best":
        embedder = Embedder.open(demo.manifest.directory, backend=best.artifact, threads=best.threads)
    else:
        embedder = Embedder.open(demo.manifest.directory)
        bench.results.default_vs_best = (f"{embedder.artifact.id} x{embedder.threads} / "
                                         f"{best.artifact} x{best.threads}")
    pixels = demo.pixels[0]
    benchmark.group = f"{demo.name} default path"
    benchmark.extra_info.update(model=demo.name, artifact=embedder.artifact.id, threads=embedder.threads, case=which)
    with embedder:
        bench.results.sdk[(which, "embed_pixels")] = measure(benchmark, lambda: embedder.embed(pixels), bench.mode)
