"""MediaPipe Tasks opens our TFLite files unchanged: the real ``mediapipe`` package (isolated venv,
``tests/mediapipe_env.py``) embeds face crops with ``ImageEmbedder`` from every float-I/O TFLite
artifact of the pipeline, and gets our runtime's embeddings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from petface_edge.export.verify import GATES, cosine_stats, failures

from petface_edge import Embedder
from petface_edge.data import load_splits
from petface_edge.imaging import preprocess
from petface_edge.runtime.backends import open_backend
from petface_edge.runtime.manifest import Artifact, Manifest
from tests import mediapipe_env

CROPS = 24
SCRIPT = Path(__file__).with_name("mediapipe_embed.py")


def _float_io(a: Artifact) -> bool:
    return a.format == "tflite" and a.input.dtype == "float32" and a.output.dtype == "float32"


@pytest.fixture(scope="module")
def manifest(exported) -> Manifest:
    return Manifest.load(exported.export)


@pytest.fixture(scope="module")
def crops(exported, manifest) -> np.ndarray:
    """Held-out face crops already at the model's size (MediaPipe's own resize differs from PIL's)."""
    size = int(manifest.model["image_size"])
    rels = sorted(rel for rel, _ in load_splits(exported.splits)["test"])[:CROPS]
    return np.stack([preprocess(exported.data / rel, size) for rel in rels])


@pytest.fixture(scope="module")
def mediapipe_results(manifest, crops, tmp_path_factory) -> dict[str, dict]:
    """MediaPipe's answer for every TFLite artifact, by artifact id (embeddings and metadata, or its error)."""
    work = tmp_path_factory.mktemp("mediapipe")
    np.save(work / "crops.npy", crops)
    tflite = [a for a in manifest.artifacts if a.format == "tflite" and a.status != "failed export"]
    run = subprocess.run([str(mediapipe_env.ensure()), str(SCRIPT), str(work / "crops.npy"), str(work / "out"),
                          *(str(manifest.path_of(a)) for a in tflite)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return {a.id: json.loads((work / "out" / f"{manifest.path_of(a).stem}.json").read_text()) for a in tflite}


def test_every_float_io_tflite_artifact_embeds_in_mediapipe_as_in_our_runtime(manifest, crops, mediapipe_results):
    float_io = [a for a in manifest.artifacts if a.id in mediapipe_results and _float_io(a)]
    assert {"tflite-fp32", "tflite-fp16", "tflite-dynamic-range", "tflite-int8-float-io"} <= {a.id for a in float_io}
    for a in float_io:
        got = mediapipe_results[a.id]
        assert "error" not in got, (a.id, got.get("error"))
        ours = Embedder.open(manifest, backend=a.id).embed_pixels(crops)
        theirs = np.array(got["embeddings"], np.float32)
        assert theirs.shape == ours.shape, a.id
        # Cosine only: MediaPipe returns the raw output (not re-normalized), which is what cosine ignores.
        stats = cosine_stats(ours, theirs)
        bounds = {k: v for k, v in GATES[a.parity["gate"]].items() if k.startswith("cos_")}
        assert not failures(stats, bounds), (a.id, stats)
        if a.precision == "fp32":
            assert stats["cos_min"] >= 0.9999, (a.id, stats)


def test_mediapipe_reads_our_standard_metadata_and_our_runtime_still_reads_its_own(manifest, mediapipe_results):
    for a in manifest.artifacts:
        if a.id not in mediapipe_results or not _float_io(a):
            continue
        shown = mediapipe_results[a.id]["metadata"]
        (graph,) = shown["subgraph_metadata"]
        (image,), (embedding,) = graph["input_tensor_metadata"], graph["output_tensor_metadata"]
        assert image["content"]["content_properties_type"] == "ImageProperties"
        props = image["content"]["content_properties"]
        assert props["color_space"] == "RGB" and props["default_size"] == {"width": a.input.size, "height": a.input.size}
        (unit,) = image["process_units"]
        # Raw RGB 0..255 in, mean/std inside the graph: MediaPipe must pass pixel values through unchanged.
        assert unit["options_type"] == "NormalizationOptions" and unit["options"] == {"mean": [0.0], "std": [1.0]}
        assert embedding["content"]["content_properties_type"] == "FeatureProperties" and embedding["description"]
        assert shown["min_parser_version"] == "1.0.0"
        meta = open_backend(manifest.path_of(a)).metadata  # the petface entry, beside the standard one
        assert meta["checkpoint_sha256"] == manifest.fingerprint and meta["precision"] == a.precision


def test_mediapipe_refuses_the_int8_io_model(manifest, mediapipe_results):
    """Why the float-I/O INT8 variant exists: MediaPipe takes only float32 or uint8 image inputs."""
    a = manifest.artifact("tflite-int8")
    assert a.input.dtype == "int8"
    assert "uint8/float32" in mediapipe_results[a.id]["error"]
