"""Procedural pet faces: the built-in identity dataset (``petface-synth``).

No real pet photos can be downloaded here, so demos, tests and benchmarks use
this generator. Each identity draws fixed traits (species, face shape, ears, fur
colours and pattern, eye colour, nose, markings) from its own random stream;
each image of it draws a pose, lighting, background, blur, noise, JPEG quality
and occluder from another. Telling individuals apart therefore needs fine
detail (spot layout, stripe angle, eye hue) under nuisance variation: learnable,
not trivial. Everything is seeded, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ._cli import ArgumentParser, fail, positive_int
from .errors import InvalidArgumentError, PetfaceError

MIN_SIZE = 32

# Natural fur colours (RGB); each identity jitters its pick.
FUR = np.array(
    [[25, 22, 20], [240, 236, 228], [128, 126, 124], [212, 128, 52], [120, 78, 44], [226, 200, 160],
     [170, 110, 70], [90, 88, 96], [200, 170, 120], [60, 40, 30]], dtype=np.float64)
EYES = np.array([[90, 170, 60], [220, 190, 40], [70, 140, 220], [130, 80, 30], [200, 130, 30], [150, 190, 160]],
                dtype=np.float64)
NOSES = np.array([[230, 140, 150], [30, 25, 25], [120, 70, 60], [200, 110, 110]], dtype=np.float64)


@dataclass(frozen=True)
class Traits:
    """What makes one pet that pet; fixed across all its images."""

    species: str  # "cat" | "dog"
    face_w: float
    face_h: float
    ear_kind: str  # "pointy" | "round" | "floppy"
    ear_size: float
    ear_spread: float
    fur: tuple
    fur2: tuple
    pattern: str  # "solid" | "tabby" | "spots" | "bicolor" | "mask"
    pattern_params: tuple
    eye: tuple
    eye_size: float
    eye_gap: float
    slit_pupils: bool
    nose: tuple
    nose_size: float
    blaze: bool
    muzzle: tuple


def _jitter(rng: np.random.Generator, palette: np.ndarray, amount: float) -> tuple:
    colour = palette[rng.integers(len(palette))] + rng.normal(0, amount, 3)
    return tuple(int(v) for v in np.clip(colour, 0, 255))


def identity_traits(seed: int, identity: int) -> Traits:
    rng = np.random.default_rng([seed, 0, identity])
    species = "cat" if rng.random() < 0.5 else "dog"
    pattern = ["solid", "tabby", "spots", "bicolor", "mask"][rng.integers(5)]
    if pattern == "tabby":
        params = (float(rng.uniform(-0.6, 0.6)), int(rng.integers(3, 8)), float(rng.uniform(0.03, 0.07)))
    elif pattern == "spots":
        params = tuple(
            (float(rng.uniform(-0.8, 0.8)), float(rng.uniform(-0.8, 0.8)), float(rng.uniform(0.08, 0.25)))
            for _ in range(int(rng.integers(2, 7)))
        )
    elif pattern == "bicolor":
        params = (float(rng.uniform(-0.3, 0.4)), float(rng.uniform(-0.5, 0.5)))
    else:  # mask: which eye patches, their size; solid: unused
        params = (bool(rng.random() < 0.7), bool(rng.random() < 0.7), float(rng.uniform(0.18, 0.32)))
    fur = _jitter(rng, FUR, 18)
    fur2 = _jitter(rng, FUR, 18)
    while sum(abs(a - b) for a, b in zip(fur, fur2)) < 120:  # the pattern must be visible
        fur2 = _jitter(rng, FUR, 18)
    return Traits(
        species=species,
        face_w=float(rng.uniform(0.52, 0.72)),
        face_h=float(rng.uniform(0.46, 0.64)),
        ear_kind=("pointy" if rng.random() < 0.8 else "round") if species == "cat"
        else ["pointy", "round", "floppy"][rng.integers(3)],
        ear_size=float(rng.uniform(0.16, 0.3)),
        ear_spread=float(rng.uniform(0.45, 0.8)),
        fur=fur,
        fur2=fur2,
        pattern=pattern,
        pattern_params=params,
        eye=_jitter(rng, EYES, 25),
        eye_size=float(rng.uniform(0.055, 0.095)),
        eye_gap=float(rng.uniform(0.16, 0.26)),
        slit_pupils=species == "cat" and rng.random() < 0.8,
        nose=_jitter(rng, NOSES, 15),
        nose_size=float(rng.uniform(0.035, 0.07)),
        blaze=bool(rng.random() < 0.3),
        muzzle=_jitter(rng, FUR[[1, 5, 8]], 12) if rng.random() < 0.5 else fur,
    )


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> list:
    return [cx - rx, cy - ry, cx + rx, cy + ry]


def _draw_face(t: Traits, canvas: int, blink: float, ear_tilt: float) -> Image.Image:
    """The pet's face, upright and centred, on a transparent canvas."""
    face = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
    d = ImageDraw.Draw(face)
    c = canvas / 2
    u = canvas / 2  # one unit of face coordinates
    fw, fh = t.face_w * u, t.face_h * u
    inner_ear = tuple(int(0.6 * a + 0.4 * b) for a, b in zip(t.fur, (235, 150, 160)))
    for side in (-1, 1):
        ex = c + side * t.ear_spread * fw
        ey = c - 0.75 * fh
        s = t.ear_size * u
        tilt = side * ear_tilt
        if t.ear_kind == "pointy":
            tip = (ex + side * 0.35 * s + tilt * s, ey - 1.3 * s)
            d.polygon([(ex - s, ey + 0.4 * s), tip, (ex + s, ey + 0.4 * s)], fill=t.fur)
            d.polygon([(ex - 0.55 * s, ey + 0.2 * s), (tip[0], tip[1] + 0.45 * s), (ex + 0.55 * s, ey + 0.2 * s)],
                      fill=inner_ear)
        elif t.ear_kind == "round":
            d.ellipse(_ellipse(ex, ey - 0.4 * s, 0.9 * s, 0.9 * s), fill=t.fur)
            d.ellipse(_ellipse(ex, ey - 0.35 * s, 0.5 * s, 0.5 * s), fill=inner_ear)
        else:  # floppy: hangs beside the face
            d.ellipse(_ellipse(c + side * (fw + 0.15 * s), c - 0.1 * fh, 0.6 * s, 1.5 * s), fill=t.fur2)
    d.ellipse(_ellipse(c, c, fw, fh), fill=t.fur)

    # Fur pattern in the second colour, clipped to the face.
    face_mask = Image.new("L", face.size, 0)
    ImageDraw.Draw(face_mask).ellipse(_ellipse(c, c, fw, fh), fill=255)
    pattern = Image.new("L", face.size, 0)
    p = ImageDraw.Draw(pattern)
    if t.pattern == "tabby":
        angle, count, width = t.pattern_params
        for i in range(count):
            x = c + (i - (count - 1) / 2) * (2 * fw / count)
            dx = math.tan(angle) * fh
            p.line([(x - dx, c - fh), (x + dx, c + fh * 0.2)], fill=255, width=max(1, int(width * u)))
    elif t.pattern == "spots":
        for sx, sy, r in t.pattern_params:
            p.ellipse(_ellipse(c + sx * fw, c + sy * fh, r * fw, r * fh * 0.8), fill=255)
    elif t.pattern == "bicolor":
        split, slope = t.pattern_params
        y0 = c + split * fh
        p.polygon([(c - fw, y0 - slope * fh), (c + fw, y0 + slope * fh), (c + fw, c + fh), (c - fw, c + fh)], fill=255)
    elif t.pattern == "mask":
        left, right, r = t.pattern_params
        for side, on in ((-1, left), (1, right)):
            if on:
                p.ellipse(_ellipse(c + side * t.eye_gap * u, c - 0.15 * fh, r * u, r * u * 0.85), fill=255)
    face.paste(t.fur2, (0, 0), ImageChops.multiply(pattern, face_mask))
    if t.blaze:
        d.polygon([(c - 0.05 * u, c - fh), (c + 0.05 * u, c - fh), (c + 0.09 * u, c + 0.1 * fh),
                   (c - 0.09 * u, c + 0.1 * fh)], fill=(245, 242, 238))

    # Muzzle, nose, mouth, eyes.
    d.ellipse(_ellipse(c, c + 0.45 * fh, 0.36 * fw, 0.32 * fh), fill=t.muzzle)
    ns = t.nose_size * u
    ny = c + 0.3 * fh
    d.polygon([(c - ns, ny - 0.5 * ns), (c + ns, ny - 0.5 * ns), (c, ny + 0.7 * ns)], fill=t.nose)
    d.line([(c, ny + 0.7 * ns), (c, ny + 1.6 * ns)], fill=(40, 30, 30), width=max(1, int(0.012 * u)))
    for side in (-1, 1):
        ex, ey = c + side * t.eye_gap * u, c - 0.12 * fh
        r = t.eye_size * u
        ry = max(r * (1 - blink), 1)
        d.ellipse(_ellipse(ex, ey, r, ry), fill=t.eye)
        pw = 0.25 * r if t.slit_pupils else 0.5 * r
        d.ellipse(_ellipse(ex, ey, pw, min(0.85 * r, ry)), fill=(10, 10, 10))
        d.ellipse(_ellipse(ex + 0.3 * r, ey - 0.3 * ry, 0.15 * r, 0.15 * r), fill=(255, 255, 255))
    return face


def _background(rng: np.random.Generator, canvas: int) -> Image.Image:
    """A cluttered indoor/outdoor-ish scene: a colour gradient plus random shapes."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, canvas)[:, None, None]
    grad = a * (1 - ramp) + b * ramp
    bg = Image.fromarray(np.broadcast_to(grad, (canvas, canvas, 3)).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(bg)
    for _ in range(int(rng.integers(2, 9))):
        x, y = rng.uniform(0, canvas, 2)
        r = rng.uniform(0.05, 0.3) * canvas
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            d.ellipse(_ellipse(x, y, r, r * rng.uniform(0.3, 1)), fill=colour)
        else:
            d.rectangle([x, y, x + r, y + r * rng.uniform(0.3, 2)], fill=colour)
    return bg


def render(traits: Traits, seed: int, identity: int, index: int, size: int) -> Image.Image:
    """One photo of ``traits``: pose, lighting, background, blur, noise and occlusion vary."""
    rng = np.random.default_rng([seed, 1, identity, index])
    canvas = max(2 * size, 128)  # draw at 2x, then downsample: antialiased edges
    face = _draw_face(traits, canvas, blink=float(rng.uniform(0, 0.5)) if rng.random() < 0.3 else 0.0,
                      ear_tilt=float(rng.uniform(-0.2, 0.2)))
    # Lighting: overall gain, colour cast and a directional shading ramp on the face.
    arr = np.asarray(face, dtype=np.float64)
    gain = rng.uniform(0.65, 1.3) * rng.uniform(0.9, 1.1, 3)
    direction = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:canvas, 0:canvas] / canvas - 0.5
    shade = 1 + rng.uniform(0, 0.45) * (xx * math.cos(direction) + yy * math.sin(direction))
    arr[..., :3] = np.clip(arr[..., :3] * gain * shade[..., None], 0, 255)
    face = Image.fromarray(arr.astype(np.uint8), "RGBA")
    # Pose: rotation up to 25 degrees, scale and shift.
    scale = rng.uniform(0.85, 1.15)
    face = face.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BICUBIC)
    scaled = max(8, int(canvas * scale))
    face = face.resize((scaled, scaled), Image.Resampling.BICUBIC)
    scene = _background(rng, canvas)
    offset = (canvas - scaled) / 2 + rng.uniform(-0.1, 0.1, 2) * canvas
    scene.paste(face, (int(offset[0]), int(offset[1])), face)
    if rng.random() < 0.25:  # partial occlusion: a paw, a toy, a hand
        d = ImageDraw.Draw(scene)
        w, h = rng.uniform(0.15, 0.4, 2) * canvas
        x, y = rng.uniform(0, canvas - w), rng.uniform(0, canvas - h)
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x, y, x + w, y + h], fill=colour)
    img = scene.resize((size, size), Image.Resampling.LANCZOS)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2)) * size / 112))
    if rng.random() < 0.3:
        noisy = np.asarray(img, dtype=np.float64) + rng.normal(0, rng.uniform(2, 10), (size, size, 3))
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return img


def jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def generate(out: str | Path, identities: int, images_per_identity: int, size: int = 112, seed: int = 0,
             overwrite: bool = False, progress: bool = False) -> Path:
    """Write ``identities`` folders of ``images_per_identity`` JPEGs each into ``out``; return ``out``."""
    if identities < 1 or images_per_identity < 1:
        raise InvalidArgumentError("need at least 1 identity and 1 image per identity")
    if size < MIN_SIZE:
        raise InvalidArgumentError(f"image size must be at least {MIN_SIZE}, got {size}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InvalidArgumentError(f"{out} is not empty; pass --overwrite to replace its contents")
    try:
        if out.is_dir() and overwrite:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"{out}: cannot create the output directory ({exc.strerror or exc})") from None
    jobs = [(out, identity, images_per_identity, size, seed) for identity in range(identities)]
    workers = min(os.cpu_count() or 1, 8) if identities >= 32 else 1
    if workers > 1:
        # Every image has its own seeded stream, so worker order cannot change a byte.
        with ProcessPoolExecutor(workers) as pool:
            for done, _ in enumerate(pool.map(_write_identity, jobs, chunksize=8), 1):
                _report(progress, done, identities)
    else:
        for done, job in enumerate(jobs, 1):
            _write_identity(job)
            _report(progress, done, identities)
    return out


def _write_identity(job: tuple) -> None:
    out, identity, images_per_identity, size, seed = job
    traits = identity_traits(seed, identity)
    folder = out / f"pet_{identity:05d}"
    folder.mkdir()
    for index in range(images_per_identity):
        quality = int(np.random.default_rng([seed, 2, identity, index]).integers(55, 96))
        img = render(traits, seed, identity, index, size)
        (folder / f"{index:03d}.jpg").write_bytes(jpeg_bytes(img, quality))


def _report(progress: bool, done: int, total: int) -> None:
    if progress and done % max(1, total // 10) == 0:
        print(f"  {done}/{total} identities", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = ArgumentParser(prog="petface-synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (one folder per identity)")
    parser.add_argument("--identities", type=positive_int, default=300)
    parser.add_argument("--images-per-identity", type=positive_int, default=6)
    parser.add_argument("--size", type=int, default=112, help=f"image side in pixels (>= {MIN_SIZE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    args = parser.parse_args(argv)
    try:
        out = generate(args.out, args.identities, args.images_per_identity, args.size, args.seed, args.overwrite,
                       progress=True)
    except PetfaceError as exc:
        fail(parser.prog, str(exc))
    print(f"wrote {args.identities} identities x {args.images_per_identity} images ({args.size}px) to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
