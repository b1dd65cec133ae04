"""The five robustness probes of the design document, applied to model-input pixels.

Each probe degrades the S x S x 3 uint8 image the model would see (after the shared
resize), so the strength of a probe does not depend on how large the source photos
are. Noise is seeded per image: the same image always gets the same noise.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

BLUR_RADIUS = 3.5
NOISE_STD = 0.05  # in units of the full 0..1 intensity range
JPEG_QUALITY = 30
BRIGHTNESS = 1.5
OCCLUDED_AREA = 0.25


def gaussian_blur(pixels: np.ndarray, seed: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(BLUR_RADIUS)))


def gaussian_noise(pixels: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, NOISE_STD * 255.0, pixels.shape)
    return np.clip(pixels + noise, 0, 255).round().astype(np.uint8)


def jpeg(pixels: np.ndarray, seed: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return np.asarray(Image.open(buffer).convert("RGB"))


def brightness(pixels: np.ndarray, seed: int) -> np.ndarray:
    return np.clip(pixels * BRIGHTNESS, 0, 255).round().astype(np.uint8)


def occlusion(pixels: np.ndarray, seed: int) -> np.ndarray:
    """A black rectangle over the centre, covering ``OCCLUDED_AREA`` of the image (half of each side)."""
    h, w = pixels.shape[:2]
    side = OCCLUDED_AREA ** 0.5
    oh, ow = round(h * side), round(w * side)
    top, left = (h - oh) // 2, (w - ow) // 2
    out = pixels.copy()
    out[top:top + oh, left:left + ow] = 0
    return out


# name -> (function, parameters in words for the report)
PROBES: dict[str, tuple[Callable[[np.ndarray, int], np.ndarray], str]] = {
    "gaussian_blur": (gaussian_blur, f"radius {BLUR_RADIUS}"),
    "gaussian_noise": (gaussian_noise, f"std {NOISE_STD}"),
    "jpeg": (jpeg, f"quality {JPEG_QUALITY}"),
    "brightness": (brightness, f"x{BRIGHTNESS}"),
    "occlusion": (occlusion, f"centre {OCCLUDED_AREA:.0%} black"),
}
