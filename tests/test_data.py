"""petface_edge.data: scanning identity folders, deterministic splits, splits.json."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from petface_edge.data import (
    DataError,
    load_splits,
    read_splits_file,
    scan_identities,
    split_identities,
    write_splits,
)
from petface_edge.imaging import load_image, preprocess
from petface_edge.synth import generate


def _photo(seed: int, size=(40, 30)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def _jpeg(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


@pytest.fixture()
def messy(tmp_path):
    """Every kind of file a real pet folder holds: odd modes, odd cases, junk, corrupt and truncated images."""
    root = tmp_path / "pets"
    a, b, c = root / "alpha", root / "bravo", root / "charlie"
    for d in (a, b, c):
        d.mkdir(parents=True)
    _photo(1).save(a / "1.JPG")
    _photo(2).convert("L").save(a / "2.png")  # grayscale
    _photo(3).convert("RGBA").save(a / "3.PNG")
    _photo(4).convert("P").save(a / "4.bmp")  # palette
    _photo(5).convert("CMYK").save(a / "5.jpeg")
    Image.fromarray((np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50)).save(b / "16bit.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (b / "exif.Jpeg").write_bytes(_jpeg(_photo(6, (40, 30)), exif=exif))
    _photo(7).save(b / "7.webp")
    (a / "notes.txt").write_text("vaccinated 2024")
    (b / "Thumbs.db").write_bytes(b"\x00" * 64)
    (b / ".DS_Store").write_bytes(b"\x00" * 16)
    (c / "corrupt.jpg").write_bytes(b"this is not a jpeg")
    good = _jpeg(_photo(8, (64, 64)))
    (c / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (c / "empty.png").write_bytes(b"")
    (root / "README.md").write_text("one folder per pet")
    (root / ".cache").mkdir()
    _photo(9).save(root / ".cache" / "x.jpg")
    return root


def test_scan_converts_skips_and_ignores(messy):
    scan = scan_identities(messy)
    assert sorted(scan) == ["alpha", "bravo"]  # charlie holds only unreadable files; .cache is hidden
    assert [p.name for p in scan["alpha"]] == ["1.JPG", "2.png", "3.PNG", "4.bmp", "5.jpeg"]
    assert [p.name for p in scan["bravo"]] == ["16bit.png", "7.webp", "exif.Jpeg"]
    assert sorted(p.name for p, _ in scan.unreadable) == ["corrupt.jpg", "empty.png", "truncated.jpg"]
    assert all(reason for _, reason in scan.unreadable)
    assert sorted(p.name for p in scan.ignored) == ["README.md", "Thumbs.db", "notes.txt"]
    assert scan.num_images == 8
    for paths in scan.values():  # every mode became 8-bit RGB
        for p in paths:
            assert load_image(p).mode == "RGB"


def test_exif_rotated_photo_is_upright(messy):
    pixels = preprocess(messy / "bravo" / "exif.Jpeg", 32)
    stored = Image.open(messy / "bravo" / "exif.Jpeg")
    assert stored.size == (40, 30)
    upright = stored.transpose(Image.Transpose.ROTATE_270).convert("RGB")  # what orientation 6 means
    square = upright.crop((0, 5, 30, 35))  # the crop policy: the upright 30x40 photo's centred square
    np.testing.assert_array_equal(pixels, np.asarray(square.resize((32, 32), Image.Resampling.BILINEAR)))


def test_scan_errors(tmp_path):
    with pytest.raises(DataError, match="no such data directory"):
        scan_identities(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        scan_identities(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        scan_identities(tmp_path / "empty")
    (tmp_path / "junk" / "pet").mkdir(parents=True)
    (tmp_path / "junk" / "pet" / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"no images found \(1 unreadable"):
        scan_identities(tmp_path / "junk")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth") / "data", identities=30, images_per_identity=5, size=32, seed=3)


def test_identity_split_is_disjoint_80_10_10_and_deterministic(synth):
    scan = scan_identities(synth)
    splits = split_identities(scan, "identity", seed=42)
    ids = {name: {label for _, label in items} for name, items in splits.items()}
    assert (len(ids["train"]), len(ids["val"]), len(ids["test"])) == (24, 3, 3)
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert sum(len(v) for v in splits.values()) == 150  # every image of every identity, once
    assert all(rel == f"{label}/{rel.split('/')[1]}" for items in splits.values() for rel, label in items)
    assert split_identities(scan, "identity", seed=42) == splits
    assert split_identities(scan, "identity", seed=7) != splits


def test_image_split_puts_every_identity_in_every_split(synth):
    scan = scan_identities(synth)
    splits = split_identities(scan, "image", seed=42)
    for items in splits.values():
        assert {label for _, label in items} == set(scan)
    rels = [rel for items in splits.values() for rel, _ in items]
    assert len(rels) == len(set(rels)) == 150
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (90, 30, 30)  # 5 -> 3/1/1


def test_split_needs_enough_images_and_identities(tmp_path, synth):
    scan = scan_identities(synth)
    singles = {name: paths[:1] for name, paths in scan.items()}
    with pytest.raises(DataError, match="no identity has at least 2 images"):
        split_identities(singles, "identity")
    with pytest.raises(DataError, match="at least 6"):
        split_identities({name: scan[name] for name in list(scan)[:5]}, "identity")
    with pytest.raises(DataError, match="at least 3 images"):
        split_identities({name: paths[:2] for name, paths in scan.items()}, "image")
    # Identities too small for the mode are left out, the rest split.
    mixed = {**{name: paths[:1] for name, paths in list(scan.items())[:10]}, **dict(list(scan.items())[10:])}
    labels = {label for items in split_identities(mixed, "identity").values() for _, label in items}
    assert labels == set(list(scan)[10:])
    with pytest.raises(DataError, match="unknown split mode"):
        split_identities(scan, "random")


def test_splits_file_round_trip_and_errors(tmp_path, synth):
    splits = split_identities(scan_identities(synth), "identity", seed=42)
    path = write_splits(tmp_path / "splits.json", splits, synth, "identity", 42)
    raw = json.loads(path.read_text())
    assert (raw["seed"], raw["mode"], raw["data_dir"]) == (42, "identity", str(synth.resolve()))
    assert raw["splits"]["train"][0] == list(splits["train"][0])
    assert load_splits(path) == splits
    assert read_splits_file(path)["mode"] == "identity"
    with pytest.raises(DataError, match="no such splits file"):
        load_splits(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable splits.json"):
        load_splits(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"splits": {"train": []}}))
    with pytest.raises(DataError, match="not a petface splits.json"):
        load_splits(tmp_path / "other.json")
    (tmp_path / "entries.json").write_text(json.dumps({"splits": {"train": [["a.jpg"]], "val": [], "test": []}}))
    with pytest.raises(DataError, match=r"expected \[relative path, identity\]"):
        load_splits(tmp_path / "entries.json")
