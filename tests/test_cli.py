"""The ``petface`` command: outputs, exit status 0/1/2, and one-line errors for every kind of bad input."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from petface_edge import Embedder, Gallery
from petface_edge.data import load_splits
from petface_edge.runtime.cli import main
from petface_edge.runtime.gallery_file import META_MEMBER, TEMPLATES_MEMBER
from tests.test_imaging import huge_png_header


@pytest.fixture(scope="module")
def model(exported):
    return str(exported.export)


@pytest.fixture(scope="module")
def pets(exported):
    """Held-out pets: name -> their photos."""
    out = {}
    for rel, label in sorted(load_splits(exported.splits)["test"]):
        out.setdefault(label, []).append(str(exported.data / rel))
    return out


def petface(capsys, *args):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_says_which_artifact_runs(capsys, model):
    code, out, _ = petface(capsys, "info", model)
    assert code == 0 and "tflite-fp32" in out and "fingerprint" in out
    code, out, _ = petface(capsys, "info", model, "--backend", "tflite-int8", "--json")
    info = json.loads(out)
    assert code == 0 and info["artifact"] == "tflite-int8" and info["runtime"] == "litert"


def test_embed_human_and_json(capsys, model, pets):
    photos = next(iter(pets.values()))[:2]
    code, out, _ = petface(capsys, "embed", model, *photos)
    assert code == 0 and all(p in out for p in photos) and "tflite-fp32" in out
    code, out, _ = petface(capsys, "embed", model, *photos, "--json", "--backend", "tflite")
    data = json.loads(out)
    assert code == 0 and data["model"]["artifact"] == "tflite-fp32"
    expected = Embedder.open(model, backend="tflite").embed(photos)
    got = np.array([e["embedding"] for e in data["embeddings"]], np.float32)
    assert [e["image"] for e in data["embeddings"]] == photos and np.array_equal(got, expected)


def test_compare_exit_status_is_the_verdict(capsys, model, pets):
    a, b = next(iter(pets.values()))[:2]
    code, out, _ = petface(capsys, "compare", model, a, a)
    assert code == 0 and out.startswith("same pet") and "verify FAR 1e-3" in out
    code, out, _ = petface(capsys, "compare", model, a, b, "--threshold", "1.01", "--json")
    result = json.loads(out)
    assert code == 1 and result["same"] is False and result["operating_point"]["target"] is None
    code, out, _ = petface(capsys, "compare", model, a, b, "--far", "1e-2", "--json")
    point = json.loads(out)["operating_point"]
    assert point["policy"] == "verify" and point["target"] == 1e-2 and point["target_kind"] == "FAR"
    assert point["threshold"] == Embedder.open(model).verify_point(far=1e-2).threshold
    code, _, err = petface(capsys, "compare", model, a, b, "--far", "1e-7")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not calibrated" in err


def test_identify_exit_status_for_a_stranger_and_an_enrolled_pet(capsys, model, pets, tmp_path):
    """Default policy (FPIR 1e-2 at the gallery's size): an enrolled pet's new photo exits 0, a stranger 1."""
    gallery = tmp_path / "pets.gallery"
    names = sorted(pets)
    enrolled, strangers = names[: len(names) // 2], names[len(names) // 2:]
    for name in enrolled:
        petface(capsys, "enroll", gallery, name, *pets[name][:2], "--model", model)
    g = Gallery.load(gallery, Embedder.open(model))
    threshold = g.identify_point().threshold
    # The stranger photo that scores lowest against the gallery; an enrolled pet's enrollment photo (score 1).
    stranger = min((p for n in strangers for p in pets[n]), key=lambda p: g.identify(p, 1)[0].score)
    known = pets[enrolled[-1]][1]
    assert g.identify(stranger, 1)[0].score < threshold <= g.identify(known, 1)[0].score
    code, out, _ = petface(capsys, "identify", gallery, stranger, "--model", model)
    assert code == 1 and "result: no match" in out and "identify FPIR 1e-2 at" in out
    code, out, _ = petface(capsys, "identify", gallery, known, "--model", model, "--json")
    result = json.loads(out)
    assert code == 0 and result["faces"][0]["match"] in enrolled
    assert result["operating_point"]["gallery_size"] == 2 * len(enrolled)
    # A target the calibration cannot support at this size is refused in one line (exit 2), not guessed.
    code, _, err = petface(capsys, "identify", gallery, known, "--model", model, "--fpir", "3e-2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "was not calibrated" in err


def test_enroll_identify_list_rename_remove(capsys, model, pets, tmp_path):
    gallery = tmp_path / "pets.gallery"
    names = sorted(pets)[:3]
    for name in names:
        code, out, _ = petface(capsys, "enroll", gallery, name, *pets[name][:2], "--model", model)
        assert code == 0 and f"enrolled {name}" in out
    code, out, _ = petface(capsys, "gallery", "list", gallery, "--json")
    listing = json.loads(out)
    assert code == 0 and [p["name"] for p in listing["pets"]] == names
    assert all(p["templates"] == 2 for p in listing["pets"])
    assert listing["fingerprint"] == Embedder.open(model).fingerprint

    # An enrollment photo is found again, with the calibrated threshold: a match (exit 0).
    code, out, _ = petface(capsys, "identify", gallery, pets[names[1]][0], "--model", model, "--json")
    result = json.loads(out)
    assert code == 0 and result["faces"][0]["match"] == names[1]
    assert result["faces"][0]["matches"][0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert len(result["faces"][0]["matches"]) == 3
    point = result["operating_point"]
    assert (point["policy"], point["target"], point["target_kind"], point["gallery_size"]) == (
        "identify", 1e-2, "FPIR", 6)
    assert point["threshold"] == result["threshold"] and result["faces"][0]["matches"][0]["accepted"]
    # Nothing reaches an impossible threshold: no match (exit 1), matches still ranked.
    code, out, _ = petface(capsys, "identify", gallery, pets[names[1]][3], "--model", model,
                           "--threshold", "1.01", "--top-k", "2")
    assert code == 1 and "result: no match" in out
    assert sum(line.endswith("  -") for line in out.splitlines()) == 2  # two ranked, neither accepted

    code, _, _ = petface(capsys, "gallery", "rename", gallery, names[0], "Luna")
    assert code == 0
    code, _, _ = petface(capsys, "gallery", "remove", gallery, names[2])
    assert code == 0
    code, out, _ = petface(capsys, "gallery", "list", gallery)
    assert code == 0 and "2 pet(s)" in out and "Luna" in out and names[2] not in out
    assert Gallery.load(gallery).names() == sorted(["Luna", names[1]])


def _bad_image(tmp_path: Path, kind: str, good: str) -> Path:
    path = tmp_path / {"huge": "huge.png"}.get(kind, f"{kind}.jpg")
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        data = Path(good).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a photo\n")
    elif kind == "huge":
        path.write_bytes(huge_png_header(50_000, 50_000))
    return path


@pytest.mark.parametrize("kind", ["random", "truncated", "empty", "text", "huge"])
def test_bad_images_are_one_line_errors_with_status_2(capsys, model, pets, tmp_path, kind):
    bad = _bad_image(tmp_path, kind, next(iter(pets.values()))[0])
    code, out, err = petface(capsys, "embed", model, bad)
    assert code == 2 and out == ""
    assert err.startswith("petface: error: ") and str(bad) in err and err.count("\n") == 1


def _gallery_file(tmp_path, model, pets, **meta_changes):
    path = tmp_path / "g.gallery"
    gallery = Gallery(Embedder.open(model))
    gallery.enroll(sorted(pets)[0], pets[sorted(pets)[0]][:1])
    gallery.save(path)
    if meta_changes:
        with zipfile.ZipFile(path) as z:
            meta, templates = json.loads(z.read(META_MEMBER)), z.read(TEMPLATES_MEMBER)
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(META_MEMBER, json.dumps({**meta, **meta_changes}))
            z.writestr(TEMPLATES_MEMBER, templates)
    return path


@pytest.mark.parametrize("case, words", [
    ("other-model", "enrolled with model 000000000000"),
    ("future", "schema version 2 is newer"),
    ("corrupt", "not a petface gallery or corrupt"),
    ("missing", "no such gallery file"),
])
def test_bad_galleries_are_one_line_errors_with_status_2(capsys, model, pets, tmp_path, case, words):
    if case == "other-model":
        path = _gallery_file(tmp_path, model, pets, fingerprint="0" * 64)
    elif case == "future":
        path = _gallery_file(tmp_path, model, pets, schema_version=2)
    elif case == "corrupt":
        path = _gallery_file(tmp_path, model, pets)
        path.write_bytes(path.read_bytes()[:-200])
    else:
        path = tmp_path / "nothing.gallery"
    query = next(iter(pets.values()))[0]
    for args in (["identify", path, query, "--model", model], ["enroll", path, "x", query, "--model", model]):
        if case == "missing" and args[0] == "enroll":
            continue  # enroll creates a missing gallery
        code, out, err = petface(capsys, *args)
        assert code == 2 and err.startswith("petface: error: ") and words in err and err.count("\n") == 1
    if case != "other-model":
        code, _, err = petface(capsys, "gallery", "list", path)
        assert code == 2 and words in err


def test_bad_models_and_arguments(capsys, model, pets, tmp_path):
    query = next(iter(pets.values()))[0]
    junk = tmp_path / "model.tflite"
    junk.write_bytes(b"\0" * 64)
    code, _, err = petface(capsys, "embed", junk, query)
    assert code == 2 and "model.tflite: not a loadable TFLite model" in err and err.count("\n") == 1
    code, _, err = petface(capsys, "embed", tmp_path / "nothing", query)
    assert code == 2 and "no such model file" in err
    code, _, err = petface(capsys, "embed", model, query, "--backend", "gpu")
    assert code == 2 and "unknown backend 'gpu'" in err
    code, _, err = petface(capsys, "identify", tmp_path / "g.gallery", query, "--model", model, "--top-k", "0")
    assert code == 2 and "--top-k" in err
    code, _, err = petface(capsys, "gallery", "remove", _gallery_file(tmp_path, model, pets), "nobody")
    assert code == 2 and "no pet named 'nobody'" in err


def test_the_installed_command_never_shows_a_traceback(model, tmp_path):
    script = Path(sys.executable).with_name("petface")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "petface_edge.runtime.cli"]
    bad = tmp_path / "photo.jpg"
    bad.write_text("plain text\n")
    run = subprocess.run(command + ["embed", model, str(bad)], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == f"petface: error: {bad}: not a readable image (unknown or unsupported format)"
