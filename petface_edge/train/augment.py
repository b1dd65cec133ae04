"""Training augmentation from the design document, on PIL and numpy.

Every random choice comes from the ``numpy.random.Generator`` passed in, which the
dataset seeds from (seed, epoch, sample): an image gets the same augmentation whatever
the number of workers or processes, and a resumed run sees exactly what an
uninterrupted one would. Sizes (blur kernels, dropout holes) are given for the design
document's 224-pixel crops and scaled to the image at hand.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from ..imaging import crop_square, resize_pixels

REFERENCE_SIDE = 224.0


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges: the design document's table (section 3.4)."""

    rotate_p: float = 0.5
    rotate_limit: float = 25.0  # degrees
    flip_p: float = 0.5
    affine_p: float = 0.3
    translate: float = 0.10  # of the side
    scale: tuple = (0.85, 1.15)
    jitter_p: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.1  # of the hue circle
    grayscale_p: float = 0.05
    blur_p: float = 0.2
    blur_kernel: tuple = (3, 9)  # odd kernel sizes at 224
    noise_p: float = 0.2
    noise_std: tuple = (0.01, 0.05)  # of the 0..255 range
    jpeg_p: float = 0.2
    jpeg_quality: tuple = (70, 100)
    downscale_p: float = 0.15
    downscale: tuple = (0.4, 0.8)
    shadow_p: float = 0.1
    dropout_p: float = 0.3
    dropout_holes: tuple = (1, 4)
    dropout_size: tuple = (16, 48)  # pixels at 224


def _affine(img: Image.Image, angle: float, scale: float, shift: tuple[float, float]) -> Image.Image:
    """Rotate/scale/shift about the centre in one resampling; borders are mirrored, not black."""
    w, h = img.size
    pad_x, pad_y = w // 2, h // 2
    arr = np.pad(np.asarray(img), ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="reflect")
    padded = Image.fromarray(arr)
    # PIL wants the output->input map: inverse of (translate to centre, rotate, scale, shift).
    a = math.radians(angle)
    cos, sin = math.cos(a) / scale, math.sin(a) / scale
    cx, cy = pad_x + w / 2, pad_y + h / 2
    ox, oy = w / 2 + shift[0], h / 2 + shift[1]
    matrix = (cos, sin, cx - cos * ox - sin * oy, -sin, cos, cy + sin * ox - cos * oy)
    return padded.transform((w, h), Image.Transform.AFFINE, matrix, resample=Image.Resampling.BILINEAR)


def _hue_shift(img: Image.Image, shift: float) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(shift * 255))) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _shadow(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Darken a random quadrilateral, as a cast shadow would."""
    w, h = img.size
    corners = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(4)]
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(corners, fill=255)
    dark = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.4, 0.8)))
    return Image.composite(dark, img, mask)


def _coarse_dropout(arr: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, ratio: float) -> np.ndarray:
    h, w = arr.shape[:2]
    arr = arr.copy()
    for _ in range(int(rng.integers(cfg.dropout_holes[0], cfg.dropout_holes[1] + 1))):
        hh = max(1, int(round(rng.uniform(*cfg.dropout_size) * ratio)))
        ww = max(1, int(round(rng.uniform(*cfg.dropout_size) * ratio)))
        y, x = int(rng.integers(0, max(1, h - hh + 1))), int(rng.integers(0, max(1, w - ww + 1)))
        arr[y:y + hh, x:x + ww] = 0
    return arr


def augment(img: Image.Image, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> Image.Image:
    """One random draw of the training augmentation; returns an RGB image of the same size."""
    ratio = min(img.size) / REFERENCE_SIDE
    # Geometric
    if rng.random() < cfg.flip_p:
        img = ImageOps.mirror(img)
    angle = float(rng.uniform(-cfg.rotate_limit, cfg.rotate_limit)) if rng.random() < cfg.rotate_p else 0.0
    scale, shift = 1.0, (0.0, 0.0)
    if rng.random() < cfg.affine_p:
        scale = float(rng.uniform(*cfg.scale))
        shift = tuple(float(rng.uniform(-cfg.translate, cfg.translate)) * s for s in img.size)
    if angle or scale != 1.0 or shift != (0.0, 0.0):
        img = _affine(img, angle, scale, shift)
    # Colour
    if rng.random() < cfg.jitter_p:
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)))
        img = ImageEnhance.Contrast(img).enhance(float(rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)))
        img = ImageEnhance.Color(img).enhance(float(rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)))
        img = _hue_shift(img, float(rng.uniform(-cfg.hue, cfg.hue)))
    if rng.random() < cfg.grayscale_p:
        img = ImageOps.grayscale(img).convert("RGB")
    # Quality
    if rng.random() < cfg.blur_p:
        kernel = int(rng.integers(cfg.blur_kernel[0] // 2, cfg.blur_kernel[1] // 2 + 1)) * 2 + 1
        sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for a kernel size
        img = img.filter(ImageFilter.GaussianBlur(sigma * ratio))
    if rng.random() < cfg.downscale_p:
        factor = float(rng.uniform(*cfg.downscale))
        small = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
        img = img.resize(small, Image.Resampling.BILINEAR).resize(img.size, Image.Resampling.BILINEAR)
    if rng.random() < cfg.noise_p:
        std = float(rng.uniform(*cfg.noise_std)) * 255.0
        noisy = np.asarray(img, dtype=np.float32) + rng.normal(0.0, std, (img.height, img.width, 3))
        img = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))
    if rng.random() < cfg.jpeg_p:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
        img = Image.open(buf).convert("RGB")
    # Occlusion
    if rng.random() < cfg.shadow_p:
        img = _shadow(img, rng)
    if rng.random() < cfg.dropout_p:
        img = Image.fromarray(_coarse_dropout(np.asarray(img), rng, cfg, ratio))
    return img


def train_pixels(img: Image.Image, size: int, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Augment a decoded image and resize it like every other stage: (size, size, 3) uint8.

    The photo is first cut by the crop policy (its centred square, as at inference). Photos far
    larger than the model input are then box-reduced to about twice its size (an integer factor,
    cheap) so the augmentation does not work on megapixels.
    """
    img = crop_square(img)
    factor = min(img.size) // (2 * size)
    if factor >= 2:
        img = img.reduce(factor)
    return resize_pixels(augment(img, rng, cfg), size)
