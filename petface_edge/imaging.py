"""Image loading and the one preprocessing step every stage shares.

Training, evaluation, export calibration, verification and the runtime all call
:func:`load_image` and :func:`resize_pixels`, so they cannot drift apart. The
model input contract is deliberately tiny: RGB pixels, resized to a square with
PIL's antialiased bilinear filter, as float 0..255. ImageNet normalization and
L2 normalization live *inside* every embedder graph, so no client (Python,
Kotlin, Swift) can get mean/std wrong.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import PetfaceError

# A pet photo from a phone is at most ~50 MP; anything far beyond is a decompression bomb
# or a corrupt header. Checked from the header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 100_000_000
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
# Transparent pixels are composited over white (product cut-outs are usually on white).
ALPHA_BACKGROUND = (255, 255, 255)

ImageLike = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]


class ImageError(PetfaceError, ValueError):
    """An input that cannot be used as an image; the message names the source."""


def is_image_file(path: Union[str, os.PathLike]) -> bool:
    """True when the file name has an image extension we read (any letter case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit and float scaled, palette and alpha flattened."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError(f"array image must be HxWx3 (RGB) or HxW, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ImageError(f"array image must be uint8 RGB, got dtype {arr.dtype}")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(arr)))


def load_image(source: ImageLike) -> Image.Image:
    """Open a file path, encoded bytes, PIL image or uint8 array as an upright RGB image.

    EXIF orientation is applied; grayscale, palette, RGBA, CMYK and 16-bit inputs
    become 8-bit RGB. Raises :class:`ImageError` naming the source when the input
    is missing, empty, not an image, truncated, or absurdly large.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        return _to_rgb(ImageOps.exif_transpose(source) or source)
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise ImageError(f"{name}: file is empty (0 bytes)")
        data = path.read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        raise ImageError(f"unsupported image input {name}: pass a path, bytes, PIL image or uint8 array")
    if not data:
        raise ImageError(f"{name}: empty image data")
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageError(
                f"{name}: {width}x{height} pixels exceeds the {MAX_IMAGE_PIXELS:,}-pixel limit "
                "(decompression bomb or corrupt header)"
            )
        img.load()  # truncated files fail here (PIL's LOAD_TRUNCATED_IMAGES stays off)
        img = ImageOps.exif_transpose(img) or img
        return _to_rgb(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # PIL's own header check, at twice its pixel limit
        raise ImageError(f"{name}: too large to decode ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a readable image (unknown or unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from None


def resize_pixels(img: Image.Image, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` with PIL's antialiased bilinear filter; return HxWx3 uint8.

    This is the reference the Kotlin and Swift ports reproduce (triangle filter whose
    support grows with the downscale factor, horizontal pass first).
    """
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def preprocess(source: ImageLike, size: int) -> np.ndarray:
    """Load one image and return the model input pixels: ``size`` x ``size`` x 3 uint8 RGB."""
    return resize_pixels(load_image(source), size)
