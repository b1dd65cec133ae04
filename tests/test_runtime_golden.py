"""The golden files the Android and iOS ports are tested against: complete, self-consistent, reproducible."""

import json

import numpy as np
import pytest
from PIL import Image

from petface_edge import Embedder, Gallery, load_image
from petface_edge.data import load_splits
from petface_edge.imaging import resize_pixels
from petface_edge.runtime.manifest import Manifest, artifact_digest


@pytest.fixture(scope="module")
def golden_dir(golden):
    return golden.golden


@pytest.fixture(scope="module")
def spec(golden_dir):
    return json.loads((golden_dir / "golden.json").read_text())


def test_schema_and_image_files(golden_dir, spec):
    assert spec["schema"] == "petface-golden" and spec["schema_version"] == 1
    size = spec["image_size"]
    images = spec["images"]
    assert 36 <= len(images) <= 48 and len({i["id"] for i in images}) == len(images)
    for img in images:
        decoded = (golden_dir / img["decoded"]).read_bytes()
        pixels = (golden_dir / img["pixels"]).read_bytes()
        assert len(decoded) == img["width"] * img["height"] * 3 and len(pixels) == size * size * 3
        # decoded is what load_image gives for the source; pixels is resize_pixels of it.
        source = golden_dir / img["source"] if img["source"].startswith("sources/") else None
        if source is not None:
            assert np.asarray(load_image(source)).tobytes() == decoded
        rgb = np.frombuffer(decoded, np.uint8).reshape(img["height"], img["width"], 3)
        assert resize_pixels(Image.fromarray(rgb), size).tobytes() == pixels
    shapes = {(i["width"], i["height"]) for i in images}
    assert any(w != h for w, h in shapes)  # non-square sources
    assert any(w > size and h > size for w, h in shapes) and any(w < size and h < size for w, h in shapes)


def test_sources_are_held_out_pets_first(golden, spec):
    test_pets = {label for _, label in load_splits(golden.splits)["test"]}
    enrolled = [p["name"] for p in spec["gallery"]["enrolled"]]
    assert test_pets <= set(enrolled)  # never-trained-on pets are enrolled before any other
    assert len(enrolled) == 12 and all(len(p["images"]) == 2 for p in spec["gallery"]["enrolled"])


def test_copied_manifest_lists_only_the_shipped_tflite_files(golden, golden_dir, spec):
    manifest = Manifest.load(golden_dir)
    assert [a.id for a in manifest.artifacts] == ["tflite-fp32", "tflite-int8"]
    for a in manifest.artifacts:
        path = manifest.path_of(a)
        assert path.parent == golden_dir and artifact_digest(path) == (a.bytes, a.sha256)
    assert manifest.fingerprint == spec["fingerprint"] == Manifest.load(golden.export).fingerprint


def test_embeddings_are_reproduced_by_the_runtime(golden, golden_dir, spec):
    pixels = np.stack([np.frombuffer((golden_dir / i["pixels"]).read_bytes(), np.uint8).reshape(112, 112, 3)
                       for i in spec["images"]])
    ids = [i["id"] for i in spec["images"]]
    for artifact_id, table in spec["embeddings"].items():
        source = golden_dir if artifact_id.startswith("tflite") else golden.export  # the copy runs on its own
        got = Embedder.open(source, backend=artifact_id).embed_pixels(pixels)
        expected = np.array([table[i] for i in ids], np.float32)
        assert expected.shape == (len(ids), 128) and np.array_equal(got, expected), artifact_id
    fp32 = np.array([spec["embeddings"]["tflite-fp32"][i] for i in ids])
    onnx = np.array([spec["embeddings"]["onnx-fp32"][i] for i in ids])
    assert np.sum(fp32 * onnx, axis=1).min() >= 0.9999


def test_gallery_results_follow_the_rules(golden_dir, spec):
    g = spec["gallery"]
    table = spec["embeddings"][g["artifact"]]
    embedder = Embedder.open(golden_dir, backend=g["artifact"])
    assert g["threshold"] == embedder.threshold
    gallery = Gallery(embedder, search="exact")
    for pet in g["enrolled"]:
        gallery.enroll_embeddings(pet["name"], np.array([table[i] for i in pet["images"]], np.float32))
    enrolled = {p["name"] for p in g["enrolled"]}
    assert 18 <= len(g["queries"]) <= 22
    assert sum(q["expected"] is None for q in g["queries"]) >= 3
    assert all(q["expected"] in enrolled for q in g["queries"] if q["expected"] is not None)
    for q in g["queries"]:
        assert len(q["matches"]) == 5
        matches = gallery.search(np.array(table[q["image"]], np.float32), 5, g["threshold"])
        assert [(m.name, m.score, m.accepted) for m in matches] == [
            (m["name"], m["score"], m["accepted"]) for m in q["matches"]]
        keys = [(-m["score"], m["name"]) for m in q["matches"]]
        assert keys == sorted(keys)
