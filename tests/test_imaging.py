"""Image loading, the crop policy and the shared resize: every input kind, every bad file, one clear error naming it."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from petface_edge.imaging import (
    MAX_IMAGE_PIXELS,
    Box,
    ImageError,
    crop_box,
    crop_square,
    load_image,
    preprocess,
    resize_pixels,
    square_crop_box,
)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_header(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG signature and IHDR declaring ``width`` x ``height`` RGB, with a tiny IDAT: no pixels to speak of."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + _png_chunk(b"IEND", b""))


def _jpeg(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kwargs)
    return buf.getvalue()


@pytest.fixture()
def photo() -> Image.Image:
    """A non-symmetric RGB test picture: a gradient with a red block top-left."""
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[..., 1] = np.linspace(0, 255, 60, dtype=np.uint8)[None, :]
    arr[:10, :15] = (255, 0, 0)
    return Image.fromarray(arr)


BAD_FILES = {
    "random.jpg": (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not a readable image"),
    "empty.jpg": (b"", "0 bytes"),
    "text.jpg": (b"this is a text file, not a photo\n", "not a readable image"),
    "huge.png": (huge_png_header(), "too large"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_one_clear_error_naming_the_file(tmp_path, name):
    data, words = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(path) in str(err.value) and words in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_jpeg_is_rejected(tmp_path, photo):
    data = _jpeg(photo.resize((300, 200)))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg: corrupt or truncated"):
        load_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_size_limit_is_checked_from_the_header_below_pils_own_limit(tmp_path):
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 10  # over our limit, under PIL's 2x bomb limit
    path = tmp_path / "big.png"
    path.write_bytes(huge_png_header(side, side))
    with pytest.raises(ImageError, match=f"{side}x{side} pixels exceeds"):
        load_image(path)


def test_missing_file_and_unsupported_input():
    with pytest.raises(ImageError, match="nowhere.jpg: no such file"):
        load_image("nowhere.jpg")
    with pytest.raises(ImageError, match="unsupported image input"):
        load_image(12345)
    with pytest.raises(ImageError, match="HxWx3"):
        load_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageError, match="uint8"):
        load_image(np.zeros((4, 4, 3), np.float32))


def test_exif_orientation_is_applied(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # what a camera writes for orientation 6
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg(stored, exif=exif.tobytes()))
    upright = load_image(path)
    assert upright.size == photo.size
    assert np.abs(np.asarray(upright, np.int16) - np.asarray(photo, np.int16)).mean() < 4


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_rgb_uint8(mode, photo):
    img = photo.convert(mode) if mode != "I;16" else Image.fromarray(
        (np.asarray(photo.convert("L"), np.uint16) * 257).astype(np.uint16))
    out = load_image(img)
    assert out.mode == "RGB" and out.size == photo.size
    if mode == "I;16":  # 16-bit scaled to 8-bit, not clipped
        assert np.abs(np.asarray(out, np.int16)[..., 0] - np.asarray(photo.convert("L"), np.int16)).max() <= 1


def test_transparency_is_composited_on_white():
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    assert (np.asarray(load_image(rgba)) == 255).all()


def test_all_input_kinds_give_the_same_pixels(tmp_path, photo):
    path = tmp_path / "p.png"
    photo.save(path)
    expected = np.asarray(photo)
    for source in (path, str(path), path.read_bytes(), photo, expected):
        assert np.array_equal(np.asarray(load_image(source)), expected)


def test_resize_is_pils_antialiased_bilinear(photo):
    out = resize_pixels(photo, 17)
    assert out.shape == (17, 17, 3) and out.dtype == np.uint8
    assert np.array_equal(out, np.asarray(photo.resize((17, 17), Image.Resampling.BILINEAR)))
    same = photo.resize((32, 32))
    assert np.array_equal(resize_pixels(same, 32), np.asarray(same))  # already the right size: untouched
    assert preprocess(photo, 24).shape == (24, 24, 3)


def test_crop_policy_cuts_a_non_square_photo_to_its_centred_square(photo):
    assert crop_box(60, 40) == Box(10, 0, 40, 40)
    assert crop_box(40, 61) == Box(0, 10, 40, 40)  # an odd difference: the extra row stays below
    square = crop_square(photo)
    assert square.size == (40, 40) and np.array_equal(np.asarray(square), np.asarray(photo)[:, 10:50])
    # preprocess never squashes: it is the centred square, resized.
    assert np.array_equal(preprocess(photo, 24), resize_pixels(square, 24))
    assert not np.array_equal(preprocess(photo, 24), resize_pixels(photo, 24))
    already = photo.crop((0, 0, 40, 40))
    assert crop_square(already) is already


def test_crop_policy_with_a_face_box_is_the_detection_square(photo):
    face = Box(2, 5, 20, 10)
    assert crop_box(60, 40, face) == square_crop_box(face, 60, 40) == Box(0, 0, 28, 28)
    assert crop_box(60, 40, Box(30, 10, 10, 10), margin=0.05) == Box(30, 10, 11, 11)
    cut = crop_square(photo, Box(40, 20, 30, 30))  # 42 px wanted, shrunk to the 40 px shorter side and shifted in
    assert cut.size == (40, 40) and np.array_equal(np.asarray(cut), np.asarray(photo)[:, 20:60])
    with pytest.raises(ImageError, match="0x5"):
        crop_box(0, 5)
