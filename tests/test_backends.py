"""The backends export verification runs on: LiteRT, the lite interpreter and CoreML (refused off macOS)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from petface_edge.runtime.backends import BackendError, open_backend
from petface_edge.runtime.contract import from_output_tensor, to_input_tensor
from petface_edge.runtime.manifest import Manifest


@pytest.fixture(scope="module")
def manifest(exported) -> Manifest:
    return Manifest.load(exported.export)


@pytest.mark.parametrize("artifact_id", ["tflite-fp32", "tflite-int8", "torchscript-fp32", "torchscript-int8"])
def test_batches_match_single_images(manifest, artifact_id):
    a = manifest.artifact(artifact_id)
    backend = open_backend(manifest.path_of(a), threads=1)
    pixels = np.random.default_rng(0).integers(0, 256, (3, a.input.size, a.input.size, 3), dtype=np.uint8)
    batch = from_output_tensor(backend.run(to_input_tensor(pixels, a.input)), a.output)
    single = np.concatenate([from_output_tensor(backend.run(to_input_tensor(pixels[i:i + 1], a.input)), a.output)
                             for i in range(3)])
    assert batch.shape == (3, a.output.dim)
    np.testing.assert_allclose(batch, single, atol=1e-5)
    shape = backend.input_shape
    assert (shape[1:3] if a.input.layout == "NHWC" else shape[2:4]) == (a.input.size, a.input.size)


@pytest.mark.skipif(sys.platform == "darwin", reason="CoreML runs on macOS")
def test_coreml_is_refused_off_macos(manifest):
    with pytest.raises(BackendError, match="cannot run CoreML on this OS"):
        open_backend(manifest.path_of(manifest.artifact("coreml-fp32")))


@pytest.mark.parametrize("suffix,expected", [(".tflite", "not a loadable TFLite model"),
                                             (".ptl", "not a loadable TorchScript-Lite model")])
def test_garbage_file_is_a_clear_error(tmp_path, suffix, expected):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x00garbage" * 64)
    with pytest.raises(BackendError, match=expected) as info:
        open_backend(path)
    assert str(path) in str(info.value)
