"""The golden files the Android and iOS ports are tested against: complete, self-consistent, reproducible."""

import json

import numpy as np
import pytest
from PIL import Image

from petface_edge import Embedder, Gallery, load_image
from petface_edge.data import load_splits
from petface_edge.imaging import Box, crop_box, crop_square, resize_pixels
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
        # decoded is what load_image gives for the source; pixels is its centred square, resized (crop policy).
        source = golden_dir / img["source"] if img["source"].startswith("sources/") else None
        if source is not None:
            assert np.asarray(load_image(source)).tobytes() == decoded
        rgb = np.frombuffer(decoded, np.uint8).reshape(img["height"], img["width"], 3)
        assert resize_pixels(crop_square(Image.fromarray(rgb)), size).tobytes() == pixels
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


def test_identify_decisions_at_two_gallery_sizes(golden_dir, spec):
    """The default identify policy over strangers and enrolled pets, recomputed from the golden embeddings."""
    g, ident = spec["gallery"], spec["identify"]
    table = spec["embeddings"][ident["artifact"]]
    embedder = Embedder.open(golden_dir, backend=ident["artifact"])
    thresholds = [size["operating_point"]["threshold"] for size in ident["sizes"]]
    assert [s["templates"] for s in ident["sizes"]] == [8, 24] and thresholds[0] < thresholds[1]
    for size in ident["sizes"]:
        gallery = Gallery(embedder, search="exact")
        for pet in g["enrolled"][: size["pets"]]:
            gallery.enroll_embeddings(pet["name"], np.array([table[i] for i in pet["images"]], np.float32))
        assert gallery.identify_point().to_dict() == size["operating_point"]
        strangers = [q for q in size["queries"] if q["expected"] is None]
        assert len(strangers) >= 4 and len(strangers) < len(size["queries"])
        for q in size["queries"]:
            top = gallery.search(np.array(table[q["image"]], np.float32), 1)[0]
            assert (top.name, top.score, top.accepted) == (q["top1"], q["score"], q["accepted"])


def test_gallery_results_follow_the_rules(golden_dir, spec):
    g = spec["gallery"]
    table = spec["embeddings"][g["artifact"]]
    embedder = Embedder.open(golden_dir, backend=g["artifact"])
    gallery = Gallery(embedder, search="exact")
    for pet in g["enrolled"]:
        gallery.enroll_embeddings(pet["name"], np.array([table[i] for i in pet["images"]], np.float32))
    assert g["threshold"] == gallery.identify_point().threshold  # the default identify policy at its size
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


def _decoded(golden_dir, img) -> Image.Image:
    return Image.fromarray(np.fromfile(golden_dir / img["decoded"], np.uint8).reshape(img["height"], img["width"], 3))


def test_the_embedder_applies_the_crop_policy(golden_dir, spec):
    """A non-square photo is embedded as its centred square (never squashed): the golden pixels' embedding."""
    embedder = Embedder.open(golden_dir, backend="tflite-fp32")
    odd = [i for i in spec["images"] if i["width"] != i["height"]]
    got = embedder.embed([_decoded(golden_dir, i) for i in odd])
    expected = np.array([spec["embeddings"]["tflite-fp32"][i["id"]] for i in odd], np.float32)
    assert len(odd) == 4 and np.array_equal(got, expected)


def test_crop_policy_cases_with_a_face_box(golden_dir, spec):
    crops = spec["crop_policy"]
    images = {i["id"]: i for i in spec["images"]}
    assert [c["image"] for c in crops["cases"]] == list(images)
    shifted = shrunk = 0
    for case in crops["cases"]:
        img, face = images[case["image"]], Box(**case["box"])
        square = crop_box(img["width"], img["height"], face, case["margin"])
        assert square.to_dict() == case["crop"] and square.width == square.height
        assert 0 <= square.x <= img["width"] - square.width and 0 <= square.y <= img["height"] - square.height
        pixels = resize_pixels(_decoded(golden_dir, img).crop(square.as_crop()), spec["image_size"])
        assert pixels.tobytes() == (golden_dir / case["pixels"]).read_bytes()
        shrunk += round(max(face.width, face.height) * (1 + 2 * case["margin"])) > min(img["width"], img["height"])
        shifted += square.x != round(face.x + face.width / 2 - square.width / 2)
    # The cases exercise every branch of rule 2, and both margins.
    assert shifted >= 5 and shrunk >= 5 and {c["margin"] for c in crops["cases"]} == {0.2, 0.05}


def test_crop_policy_gallery_follows_the_rules(golden_dir, spec):
    crops = spec["crop_policy"]
    embedder = Embedder.open(golden_dir, backend=crops["artifact"])
    ids = [c["image"] for c in crops["cases"]]
    pixels = np.stack([np.frombuffer((golden_dir / c["pixels"]).read_bytes(), np.uint8).reshape(112, 112, 3)
                       for c in crops["cases"]])
    vectors = dict(zip(ids, embedder.embed_pixels(pixels)))
    assert all(np.array_equal(vectors[i], np.array(crops["embeddings"][i], np.float32)) for i in ids)
    gallery = Gallery(embedder, search="exact")
    for pet in crops["enrolled"]:
        gallery.enroll_embeddings(pet["name"], np.stack([vectors[i] for i in pet["images"]]))
    assert [q["image"] for q in crops["queries"]] == [q["image"] for q in spec["gallery"]["queries"]]
    for q in crops["queries"]:
        matches = gallery.search(vectors[q["image"]], 5, crops["threshold"])
        assert [(m.name, m.score, m.accepted) for m in matches] == [
            (m["name"], m["score"], m["accepted"]) for m in q["matches"]]


def test_coreml_package_is_the_exported_one(golden, golden_dir):
    copy = Manifest.load(golden_dir / "coreml")
    [artifact] = copy.artifacts
    assert artifact.format == "coreml" and (golden_dir / "coreml" / artifact.path).is_dir()
    assert artifact_digest(copy.path_of(artifact)) == (artifact.bytes, artifact.sha256)
    assert artifact.sha256 == Manifest.load(golden.export).artifact(artifact.id).sha256
