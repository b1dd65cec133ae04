"""Calibration sets for INT8 quantization: chosen once, stored once, fed to every converter.

A set is the model-input pixels (N, S, S, 3 uint8 RGB, resized with
:func:`petface_edge.imaging.resize_pixels`) plus the list of source files. It is
drawn from the *train* split only (val/test stay untouched for thresholds and
parity), stratified across identities, and fully deterministic: the same inputs
and seed give a byte-identical file (a zip with fixed timestamps, not ``np.savez``,
which stamps the current time).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from petface_edge.atomic import atomic_write
from petface_edge.errors import PetfaceError
from petface_edge.imaging import ImageError, preprocess

SCHEMA = "petface-calibration"
SCHEMA_VERSION = 1
DEFAULT_COUNT = 200
# Below this, activation ranges come from too few images to be trusted.
MIN_IMAGES = 64
# The default synthetic dataset is drawn with seed 0; calibration draws other pets.
SYNTHETIC_SEED = 1
# Pixels are raw RGB 0..255; mean/std are inside the model graph (see petface_edge.models.base).
NORMALIZATION = "in_graph"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class CalibrationError(PetfaceError, ValueError):
    """A calibration set that cannot be built, read, or used for this model."""


@dataclass
class CalibrationSet:
    pixels: np.ndarray  # (N, S, S, 3) uint8 RGB
    sources: list[str]  # one per image: data_dir-relative path, or a synthetic id
    labels: list[str]  # identity of each image (for the record: stratification is checkable)
    origin: dict = field(default_factory=dict)  # how it was drawn: kind, data_dir, splits, split, seed
    normalization: str = NORMALIZATION

    @property
    def image_size(self) -> int:
        return int(self.pixels.shape[1])

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def pixels_sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.pixels).tobytes()).hexdigest()

    def header(self) -> dict:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "count": len(self),
            "image_size": self.image_size,
            "layout": "NHWC",
            "dtype": "uint8",
            "color": "RGB",
            "range": [0, 255],
            "resize": "pil_bilinear",
            "normalization": self.normalization,
            "origin": self.origin,
            "pixels_sha256": self.pixels_sha256,
            "sources": self.sources,
            "labels": self.labels,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``header.json`` + ``pixels.npy`` into a zip with fixed timestamps (deterministic bytes)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        npy = io.BytesIO()
        np.lib.format.write_array(npy, np.ascontiguousarray(self.pixels), allow_pickle=False)
        with atomic_write(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in (("header.json", json.dumps(self.header(), indent=1).encode()),
                               ("pixels.npy", npy.getvalue())):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        return path

    def check_compatible(self, image_size: int, normalization: str = NORMALIZATION,
                         minimum: int = MIN_IMAGES, name: str = "calibration set") -> None:
        """Raise :class:`CalibrationError` unless this set can calibrate a model with that input."""
        if self.image_size != image_size:
            raise CalibrationError(
                f"{name}: images are {self.image_size}x{self.image_size} but the model takes "
                f"{image_size}x{image_size}; rebuild it with --image-size {image_size}")
        if self.normalization != normalization:
            raise CalibrationError(
                f"{name}: pixels are normalized '{self.normalization}' but the model expects '{normalization}' "
                "(raw RGB 0..255, mean/std inside the graph)")
        if len(self) < minimum:
            raise CalibrationError(f"{name}: has {len(self)} images, at least {minimum} are needed")


def load(path: str | Path) -> CalibrationSet:
    """Read a set written by :meth:`CalibrationSet.save`; errors name the file and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: no such calibration file")
    try:
        with zipfile.ZipFile(path) as z:
            header = json.loads(z.read("header.json"))
            pixels = np.lib.format.read_array(io.BytesIO(z.read("pixels.npy")), allow_pickle=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise CalibrationError(f"{path}: not a petface calibration file ({exc.__class__.__name__})") from None
    if header.get("schema") != SCHEMA:
        raise CalibrationError(f"{path}: not a petface calibration file (expected schema '{SCHEMA}')")
    if header.get("schema_version", 0) > SCHEMA_VERSION:
        raise CalibrationError(f"{path}: calibration schema {header['schema_version']} is newer than supported "
                               f"({SCHEMA_VERSION})")
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] != 3 or pixels.shape[1] != pixels.shape[2]:
        raise CalibrationError(f"{path}: pixels must be (N, S, S, 3) uint8, got {pixels.shape} {pixels.dtype}")
    calib = CalibrationSet(pixels, list(header["sources"]), list(header["labels"]), header.get("origin", {}),
                           header.get("normalization", ""))
    if calib.pixels_sha256 != header.get("pixels_sha256"):
        raise CalibrationError(f"{path}: pixel data does not match its recorded sha256 (corrupt file)")
    return calib


def stratified_pick(items: list[tuple[str, str]], count: int, seed: int) -> list[tuple[str, str]]:
    """Up to ``count`` (relpath, label) items, round-robin over identities in a seeded order.

    Every identity contributes before any contributes twice, so a set smaller than the
    identity count still spans as many pets as possible.
    """
    rng = random.Random(seed)
    by_label: dict[str, list[tuple[str, str]]] = {}
    for rel, label in sorted(items):
        by_label.setdefault(label, []).append((rel, label))
    labels = sorted(by_label)
    rng.shuffle(labels)
    for label in labels:
        rng.shuffle(by_label[label])
    picked: list[tuple[str, str]] = []
    for round_ in range(max((len(v) for v in by_label.values()), default=0)):
        for label in labels:
            if len(picked) == count:
                return picked
            if round_ < len(by_label[label]):
                picked.append(by_label[label][round_])
    return picked


def from_splits(data_dir: str | Path, splits: str | Path, image_size: int, count: int = DEFAULT_COUNT,
                seed: int = 0) -> CalibrationSet:
    """Draw ``count`` images from the train split of ``splits.json`` (never val or test)."""
    from petface_edge.data import load_splits

    data_dir = Path(data_dir)
    try:
        train = load_splits(splits)["train"]
    except ValueError as exc:  # petface_edge.data.DataError: names the file and what was expected
        raise CalibrationError(str(exc)) from None
    picked = stratified_pick([(str(rel), str(label)) for rel, label in train], count, seed)
    if not picked:
        raise CalibrationError(f"{splits}: the train split is empty")
    try:
        pixels = np.stack([preprocess(data_dir / rel, image_size) for rel, _ in picked])
    except ImageError as exc:
        raise CalibrationError(f"calibration image unusable: {exc}") from None
    origin = {"kind": "dataset", "data_dir": str(data_dir), "splits": str(splits), "split": "train", "seed": seed}
    return CalibrationSet(pixels, [rel for rel, _ in picked], [label for _, label in picked], origin)


def synthetic(image_size: int, count: int = DEFAULT_COUNT, seed: int = SYNTHETIC_SEED,
              images_per_identity: int = 4) -> CalibrationSet:
    """Render ``count`` procedural pet faces in memory (pets that the default synthetic dataset does not hold)."""
    from petface_edge.imaging import resize_pixels
    from petface_edge.synth import identity_traits, render

    pixels, sources, labels = [], [], []
    for identity in range(math.ceil(count / images_per_identity)):
        traits = identity_traits(seed, identity)
        for index in range(images_per_identity):
            if len(sources) == count:
                break
            pixels.append(resize_pixels(render(traits, seed, identity, index, image_size), image_size))
            sources.append(f"synthetic:{seed}/pet_{identity:05d}/{index:03d}")
            labels.append(f"pet_{identity:05d}")
    origin = {"kind": "synthetic", "seed": seed, "images_per_identity": images_per_identity}
    return CalibrationSet(np.stack(pixels), sources, labels, origin)


def build(image_size: int, data_dir: Optional[str | Path] = None, splits: Optional[str | Path] = None,
          count: int = DEFAULT_COUNT, seed: int = 0) -> CalibrationSet:
    """The train split of ``data_dir`` when both ``data_dir`` and ``splits`` are given, else synthetic faces."""
    if (data_dir is None) != (splits is None):
        raise CalibrationError("give both a data directory and its splits.json, or neither (synthetic images)")
    if data_dir is not None:
        return from_splits(data_dir, splits, image_size, count, seed)
    return synthetic(image_size, count, seed=SYNTHETIC_SEED + seed)
