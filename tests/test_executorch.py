"""ExecuTorch (.pte): the pipeline's artifacts through the runtime backend, against an independent plain
``executorch.runtime`` call that knows only the manifest (the way an app author would use them)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from petface_edge import Embedder
from petface_edge.runtime.backends import BackendError, open_backend
from petface_edge.runtime.manifest import PASSED, Manifest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("executorch") is None,
                                reason="needs the [executorch] extra (make test installs [all])")


@pytest.fixture(scope="module")
def manifest(exported) -> Manifest:
    return Manifest.load(exported.export)


def _plain_executorch(path, pixels: np.ndarray, manifest_entry: dict) -> np.ndarray:
    """An app's call: the manifest's contract only (NCHW float32 0..255 in, float32 vector out), no petface code."""
    import torch
    from executorch.runtime import Runtime

    assert manifest_entry["input"]["layout"] == "NCHW" and manifest_entry["input"]["dtype"] == "float32"
    forward = Runtime.get().load_program(str(path)).load_method("forward")
    x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2).astype(np.float32)))
    y = forward.execute((x,))[0].numpy()
    return y / np.linalg.norm(y, axis=1, keepdims=True)


@pytest.mark.parametrize("artifact_id", ["executorch-fp32", "executorch-int8"])
def test_pte_round_trip_matches_plain_executorch_runtime(exported, manifest, artifact_id):
    entry = next(a for a in json.loads((exported.export / "manifest.json").read_text())["artifacts"]
                 if a["id"] == artifact_id)
    path = exported.export / entry["path"]
    size = entry["input"]["size"]
    pixels = np.random.default_rng(3).integers(0, 256, (5, size, size, 3), dtype=np.uint8)
    plain = _plain_executorch(path, pixels, entry)
    with Embedder.open(exported.export, backend=artifact_id) as embedder:
        assert embedder.runtime == "executorch"
        ours = embedder.embed_pixels(pixels)
    assert ours.shape == (5, entry["output"]["dim"])
    np.testing.assert_allclose(ours, plain, atol=1e-5)
    # The program carries its own contract and fingerprint (a bare .pte opens without the manifest).
    backend = open_backend(path, threads=1)
    assert backend.metadata["checkpoint_sha256"] == manifest.fingerprint
    assert json.loads(backend.metadata["input_contract"])["size"] == size
    assert backend.metadata["precision"] == entry["precision"]


def test_executorch_artifacts_pass_their_gates(manifest):
    fp32, int8 = manifest.artifact("executorch-fp32"), manifest.artifact("executorch-int8")
    assert fp32.status == PASSED, fp32.error
    assert fp32.parity["runtime"] == "executorch" and fp32.parity["cos_min"] >= 0.9999
    assert int8.recipe["quantization"] == "ptq" and int8.recipe["recipe"].startswith("xnnpack-per-channel-symmetric")
    assert int8.bytes < 0.4 * fp32.bytes  # int8 weights: a quarter of the float file, plus the graph
    assert int8.parity["verified"] and int8.parity["cos_mean"] > 0.9, int8.parity


def test_batches_beyond_the_planned_batch_run_in_slices(manifest):
    a = manifest.artifact("executorch-fp32")
    backend = open_backend(manifest.path_of(a), threads=1)
    assert backend.input_shape == (None, 3, a.input.size, a.input.size)
    x = np.random.default_rng(0).uniform(0, 255, (backend.max_batch + 3, 3, a.input.size, a.input.size))
    x = x.astype(np.float32)
    whole = backend.run(x)
    np.testing.assert_allclose(whole[-3:], backend.run(x[-3:]), atol=1e-5)


def test_garbage_pte_is_a_clear_error(tmp_path):
    path = tmp_path / "model.pte"
    path.write_bytes(b"\x00garbage" * 64)
    with pytest.raises(BackendError, match="not a loadable ExecuTorch program") as info:
        open_backend(path)
    assert str(path) in str(info.value)
