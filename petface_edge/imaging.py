"""Image loading, the crop policy and the one preprocessing step every stage shares.

Training, evaluation, export calibration, verification and the runtime all call
:func:`load_image`, :func:`crop_square` and :func:`resize_pixels` (or :func:`preprocess`,
which is the three in a row), so they cannot drift apart. The model input contract is
deliberately tiny: RGB pixels, resized to a square with PIL's antialiased bilinear filter,
as float 0..255. ImageNet normalization and L2 normalization live *inside* every embedder
graph, so no client (Python, Kotlin, Swift) can get mean/std wrong.

**The crop policy** (this module is the reference; ``android_demo/core`` ``CropPolicy.kt`` and
``ios_demo/PetFaceKit`` ``CropPolicy.swift`` port it and are tested against its golden crops):

1. Without a face box (no detector, or a detector that found nothing and the caller chose to go
   on): the **largest centred square** of the upright photo. A non-square photo is cut, never
   squashed; a square photo is used whole. The square's offset is ``(side_difference) // 2``.
2. With a face box (a detector's output, in upright-image pixels): the square around the box,
   grown by ``margin`` of its longer side on every side (:data:`DEFAULT_MARGIN`, 0.2, for a face
   box), shifted (never squashed) to stay inside the photo, shrunk only when larger than the
   photo's shorter side (:func:`square_crop_box`, Python's round-half-to-even).
3. The square is resized to the model's input size with :func:`resize_pixels`.

What a detector does when it finds nothing is the caller's choice, not the policy's: the Python
SDK reports "no face" (``Embedder.embed_faces`` returns ``[]``), the demo apps fall back to rule 1
and say so. A camera screen's on-screen guide is framing, not detection: the capture cut to the
guide is the photo, and rule 1 leaves a square photo as it is.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import PetfaceError

# A pet photo from a phone is at most ~50 MP; anything far beyond is a decompression bomb
# or a corrupt header. Checked from the header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 100_000_000
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
# Transparent pixels are composited over white (product cut-outs are usually on white).
ALPHA_BACKGROUND = (255, 255, 255)
# Face box grown by this fraction of its longer side on every side: ears and chin carry identity.
DEFAULT_MARGIN = 0.2

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


@dataclass(frozen=True)
class Box:
    """An axis-aligned pixel rectangle in the (EXIF-upright) image: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    def as_crop(self) -> tuple[int, int, int, int]:
        """PIL ``crop`` coordinates (left, upper, right, lower)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)

    def to_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


def square_crop_box(face: Box, image_width: int, image_height: int, margin: float = DEFAULT_MARGIN) -> Box:
    """The square around ``face``, grown by ``margin`` per side, kept inside the image (policy rule 2).

    The square is shifted (never squashed) to stay inside; it shrinks only when it is
    larger than the image's shorter side.
    """
    side = round(max(face.width, face.height) * (1 + 2 * margin))
    side = max(1, min(side, image_width, image_height))
    cx, cy = face.x + face.width / 2, face.y + face.height / 2
    x = int(min(max(round(cx - side / 2), 0), image_width - side))
    y = int(min(max(round(cy - side / 2), 0), image_height - side))
    return Box(x, y, side, side)


def crop_box(image_width: int, image_height: int, face: Optional[Box] = None,
             margin: float = DEFAULT_MARGIN) -> Box:
    """The square the model sees, by the crop policy: around ``face`` (rule 2), else the centred square (rule 1)."""
    if image_width < 1 or image_height < 1:
        raise ImageError(f"cannot crop a {image_width}x{image_height} image")
    if face is not None:
        return square_crop_box(face, image_width, image_height, margin)
    side = min(image_width, image_height)
    return Box((image_width - side) // 2, (image_height - side) // 2, side, side)


def crop_square(img: Image.Image, face: Optional[Box] = None, margin: float = DEFAULT_MARGIN) -> Image.Image:
    """``img`` cut to :func:`crop_box`; a square image without a face box is returned as is."""
    box = crop_box(img.width, img.height, face, margin)
    if (box.x, box.y, box.width, box.height) == (0, 0, img.width, img.height):
        return img
    return img.crop(box.as_crop())


def resize_pixels(img: Image.Image, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` with PIL's antialiased bilinear filter; return HxWx3 uint8.

    This is the reference the Kotlin and Swift ports reproduce (triangle filter whose
    support grows with the downscale factor). A non-square ``img`` is squashed: callers
    cut it first with :func:`crop_square` (the crop policy), as :func:`preprocess` does.
    """
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def preprocess(source: ImageLike, size: int) -> np.ndarray:
    """Load one image and return the model input pixels (``size`` x ``size`` x 3 uint8 RGB) by the crop policy."""
    return resize_pixels(crop_square(load_image(source)), size)
