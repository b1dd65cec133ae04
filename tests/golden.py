"""Golden files: what the Python runtime computes, for the Android (Kotlin) and iOS (Swift) ports to reproduce.

``write_golden(pipeline, out_dir)`` writes, from the exported test pipeline:

- ``manifest.json`` plus the artifacts the demos run (``tflite-fp32``, ``tflite-int8``), copied in
  with paths relative to ``out_dir``; the other artifacts are dropped from the copy.
- ``decoded/<id>.rgb``: each source image as PIL decodes it (EXIF applied), raw RGB uint8,
  row-major, ``height * width * 3`` bytes; ``pixels/<id>.rgb``: the model input by the crop policy
  without a face box (centred square, then ``resize_pixels``), ``S*S*3`` bytes.
- ``golden.json``: image list, per-artifact embeddings, and a gallery (enrolled pets, queries with
  their expected pet or null, and the top-5 matches the Python ``Gallery`` returns, judged by the
  default identify policy). ``identify``: the identify policy's decisions at two gallery sizes
  (the first ``SMALL_GALLERY_PETS`` pets, then all), each with its operating point (FPIR, template
  count, threshold interpolated on log N from the manifest table) and, per query (enrolled pets
  and strangers), the top-1 pet, its score and whether it is accepted.
- ``crop_policy`` in ``golden.json`` and ``crops/<id>.rgb``: the crop policy with a face box, per image
  (rule 2 of ``petface_edge.imaging``): the box, its margin, the square Python cuts and its resized
  pixels; the ``tflite-fp32`` embeddings of those pixels; and a gallery enrolled from the boxed crops
  with the top-5 matches of the boxed queries. The boxes are drawn at random around the face (fixed
  seed): they stand in for a detector's output, since the policy, not a detector, is under test.
- ``coreml/``: one CoreML package as exported here (``not verifiable here`` on Linux) with its manifest
  entry, for the iOS core's directory sha256 and status label.

Pets come from the held-out identities (test split first, then val, then train to fill).
A few sources are re-encoded as PNG at odd non-square sizes, so the ports' resize is checked
on upscaling and downscaling, not only on the square 112 px training images.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from petface_edge import Embedder, Gallery, load_image
from petface_edge.data import load_splits
from petface_edge.imaging import DEFAULT_MARGIN, Box, crop_box, crop_square, resize_pixels
from petface_edge.runtime.manifest import Manifest
from tests.pipeline import Pipeline

SCHEMA = "petface-golden"
SCHEMA_VERSION = 1
EMBEDDED_ARTIFACTS = ("tflite-fp32", "tflite-int8", "onnx-fp32")
SHIPPED_ARTIFACTS = ("tflite-fp32", "tflite-int8")  # the files the demos load
GALLERY_ARTIFACT = "tflite-fp32"
ENROLLED_PETS = 12
ENROLL_IMAGES = 2
SECOND_QUERIES = 4  # enrolled pets queried twice
UNENROLLED_PETS = 4
TOP_K = 5
SMALL_GALLERY_PETS = 4  # the identify decisions' smaller gallery: 8 templates, between table entries 5 and 10
# (image index within the golden set, width, height): upscaled, downscaled and mixed, all non-square.
ODD_SIZES = {2: (97, 131), 11: (300, 180), 30: (61, 47), 41: (199, 113)}
CROP_SEED = 18
# iOS's Vision boxes the whole animal and grows it by this much; every fourth crop case uses it.
ANIMAL_MARGIN = 0.05
COREML_ARTIFACT = "coreml-w8"  # the smallest package


def _identities(splits_path: Path) -> list[tuple[str, list[str]]]:
    """Identities with their images, test split first (never trained on), then val, then train."""
    splits = load_splits(splits_path)
    out: dict[str, list[str]] = {}
    for split in ("test", "val", "train"):
        for rel, label in sorted(splits[split], key=lambda item: (item[1], item[0])):
            out.setdefault(label, []).append(rel)
    return list(out.items())


def write_golden(pipeline: Pipeline, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    for sub in ("decoded", "pixels", "sources"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(pipeline.export)
    size = int(manifest.model["image_size"])

    identities = [(label, rels) for label, rels in _identities(pipeline.splits) if len(rels) >= ENROLL_IMAGES + 2]
    needed = ENROLLED_PETS + UNENROLLED_PETS
    if len(identities) < needed:
        raise ValueError(f"{pipeline.splits}: need {needed} identities with 4+ images for the golden set")
    enrolled, unenrolled = identities[:ENROLLED_PETS], identities[ENROLLED_PETS:needed]

    # Image plan: enrollment images, one query per enrolled pet, a second query for a few, unenrolled queries.
    sources: list[tuple[str, str | None]] = []  # (relpath in data dir, expected pet for queries)
    enroll_plan: list[tuple[str, list[int]]] = []
    queries: list[tuple[int, str | None]] = []
    for label, rels in enrolled:
        enroll_plan.append((label, [len(sources), len(sources) + 1]))
        sources += [(rels[0], label), (rels[1], label)]
    for i, (label, rels) in enumerate(enrolled):
        picks = rels[2:4] if i < SECOND_QUERIES else rels[2:3]
        for rel in picks:
            queries.append((len(sources), label))
            sources.append((rel, label))
    for label, rels in unenrolled:
        queries.append((len(sources), None))
        sources.append((rels[2], label))

    images, pixels = [], []
    for index, (rel, _) in enumerate(sources):
        image_id = f"img_{index:03d}"
        entry = {"id": image_id, "source": rel}
        path = pipeline.data / rel
        if index in ODD_SIZES:  # re-encode at an odd non-square size as PNG
            png = out / "sources" / f"{image_id}.png"
            load_image(path).resize(ODD_SIZES[index], Image.Resampling.BICUBIC).save(png)
            entry = {"id": image_id, "source": f"sources/{png.name}", "derived_from": rel}
            path = png
        decoded = load_image(path)
        resized = resize_pixels(crop_square(decoded), size)
        (out / "decoded" / f"{image_id}.rgb").write_bytes(np.asarray(decoded, dtype=np.uint8).tobytes())
        (out / "pixels" / f"{image_id}.rgb").write_bytes(resized.tobytes())
        images.append({**entry, "width": decoded.width, "height": decoded.height,
                       "decoded": f"decoded/{image_id}.rgb", "pixels": f"pixels/{image_id}.rgb"})
        pixels.append(resized)
    batch = np.stack(pixels)

    embeddings, embedders = {}, {}
    for artifact_id in EMBEDDED_ARTIFACTS:
        embedders[artifact_id] = Embedder.open(manifest, backend=artifact_id)
        vectors = embedders[artifact_id].embed_pixels(batch)
        embeddings[artifact_id] = {img["id"]: v.tolist() for img, v in zip(images, vectors)}

    embedder = embedders[GALLERY_ARTIFACT]
    gallery = Gallery(embedder, search="exact")
    vectors = np.array([embeddings[GALLERY_ARTIFACT][img["id"]] for img in images], dtype=np.float32)
    for label, indices in enroll_plan:
        gallery.enroll_embeddings(label, vectors[indices])
    threshold = gallery.identify_point().threshold
    golden = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "image_size": size,
        "fingerprint": manifest.fingerprint,
        "images": images,
        "embeddings": embeddings,
        "gallery": {
            "artifact": GALLERY_ARTIFACT,
            "threshold": threshold,
            "enrolled": [{"name": label, "images": [images[i]["id"] for i in indices]}
                         for label, indices in enroll_plan],
            "queries": [{"image": images[i]["id"], "expected": expected,
                         "matches": [{"name": m.name, "score": m.score, "accepted": m.accepted}
                                     for m in gallery.search(vectors[i], TOP_K, threshold)]}
                        for i, expected in queries],
        },
    }
    golden["identify"] = _identify_sizes(embedder, images, vectors, enroll_plan, queries)
    golden["crop_policy"] = _crop_policy(out, images, embedder, enroll_plan, queries, threshold)
    _copy_manifest(manifest, out)
    _copy_coreml(manifest, out / "coreml")
    (out / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    return out


def _identify_sizes(embedder: Embedder, images: list[dict], vectors: np.ndarray,
                    enroll_plan: list[tuple[str, list[int]]], queries: list[tuple[int, str | None]]) -> dict:
    """Default identify-policy decisions over every golden query at two gallery sizes."""
    sizes = []
    for pets in (SMALL_GALLERY_PETS, len(enroll_plan)):
        gallery = Gallery(embedder, search="exact")
        for label, indices in enroll_plan[:pets]:
            gallery.enroll_embeddings(label, vectors[indices])
        point = gallery.identify_point()
        rows = []
        for i, label in queries:
            result = gallery.search(vectors[i], 1)
            rows.append({"image": images[i]["id"], "expected": label if label in gallery else None,
                         "top1": result[0].name, "score": result[0].score, "accepted": result[0].accepted})
        sizes.append({"pets": pets, "templates": point.gallery_size, "operating_point": point.to_dict(),
                      "queries": rows})
    return {"artifact": embedder.artifact.id, "sizes": sizes}


def _face_box(rng: np.random.Generator, width: int, height: int) -> Box:
    """A box of 40-85% of the shorter side near the centre, anywhere inside: some crops shift, some shrink."""
    short = min(width, height)
    bw = int(rng.integers(max(1, round(0.40 * short)), round(0.85 * short) + 1))
    bh = int(min(height, max(1, round(bw * rng.uniform(0.8, 1.2)))))
    return Box(int(rng.integers(0, width - bw + 1)), int(rng.integers(0, height - bh + 1)), bw, bh)


def _crop_policy(out: Path, images: list[dict], embedder: Embedder, enroll_plan: list[tuple[str, list[int]]],
                 queries: list[tuple[int, str | None]], threshold: float) -> dict:
    """Rule 2 of the crop policy on every golden image, and a gallery enrolled and queried through it."""
    (out / "crops").mkdir(exist_ok=True)
    rng = np.random.default_rng(CROP_SEED)
    size = embedder.image_size
    cases, pixels = [], []
    for index, img in enumerate(images):
        decoded = Image.fromarray(np.fromfile(out / img["decoded"], np.uint8).reshape(img["height"], img["width"], 3))
        face = _face_box(rng, decoded.width, decoded.height)
        margin = ANIMAL_MARGIN if index % 4 == 3 else DEFAULT_MARGIN
        square = crop_box(decoded.width, decoded.height, face, margin)
        resized = resize_pixels(crop_square(decoded, face, margin), size)
        (out / "crops" / f"{img['id']}.rgb").write_bytes(resized.tobytes())
        cases.append({"image": img["id"], "box": face.to_dict(), "margin": margin, "crop": square.to_dict(),
                      "pixels": f"crops/{img['id']}.rgb"})
        pixels.append(resized)
    vectors = embedder.embed_pixels(np.stack(pixels))
    gallery = Gallery(embedder, search="exact")
    for label, indices in enroll_plan:
        gallery.enroll_embeddings(label, vectors[indices])
    return {
        "artifact": embedder.artifact.id,
        "threshold": threshold,
        "cases": cases,
        "embeddings": {c["image"]: v.tolist() for c, v in zip(cases, vectors)},
        "enrolled": [{"name": label, "images": [images[i]["id"] for i in indices]} for label, indices in enroll_plan],
        "queries": [{"image": images[i]["id"], "expected": expected,
                     "matches": [{"name": m.name, "score": m.score, "accepted": m.accepted}
                                 for m in gallery.search(vectors[i], TOP_K, threshold)]}
                    for i, expected in queries],
    }


def _copy_coreml(manifest: Manifest, out: Path) -> None:
    """One exported CoreML package and a manifest reduced to it (what ``ios_demo/add_model.sh`` installs)."""
    raw = json.loads((manifest.directory / "manifest.json").read_text())
    entry = next((e for e in raw["artifacts"] if e["id"] == COREML_ARTIFACT), None)
    if entry is None or not (manifest.directory / entry["path"]).is_dir():
        raise ValueError(f"{manifest.directory}: no {COREML_ARTIFACT} package for the golden files")
    shutil.rmtree(out, ignore_errors=True)
    name = Path(entry["path"]).name
    shutil.copytree(manifest.directory / entry["path"], out / name)
    (out / "manifest.json").write_text(json.dumps({**raw, "artifacts": [{**entry, "path": name}]}, indent=2) + "\n")


def _copy_manifest(manifest: Manifest, out: Path) -> None:
    """The manifest as exported (extensions kept), reduced to the shipped artifacts, which are copied beside it."""
    raw = json.loads((manifest.directory / "manifest.json").read_text())
    kept = []
    for entry in raw["artifacts"]:
        if entry["id"] in SHIPPED_ARTIFACTS:
            source = manifest.directory / entry["path"]
            shutil.copy2(source, out / source.name)
            kept.append({**entry, "path": source.name})
    missing = set(SHIPPED_ARTIFACTS) - {e["id"] for e in kept}
    if missing:
        raise ValueError(f"{manifest.directory}: manifest lacks {sorted(missing)} for the golden files")
    (out / "manifest.json").write_text(json.dumps({**raw, "artifacts": kept}, indent=2) + "\n")
