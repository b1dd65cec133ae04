"""Identity folders and their train/val/test splits (light: numpy and PIL only).

A dataset is one folder per pet, named for the pet, holding its photos. Training
writes the split it used to ``splits.json``; evaluation and calibration read it back
with :func:`load_splits`, so every stage sees exactly the same held-out images.

    >>> scan = scan_identities("data")               # {"pet_00003": [Path, ...], ...}
    >>> splits = split_identities(scan, mode="identity", seed=42)
    >>> write_splits("run/splits.json", splits, data_dir="data", mode="identity", seed=42)
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .atomic import write_json_atomic
from .errors import PetfaceError
from .imaging import ImageError, is_image_file, load_image

SPLIT_NAMES = ("train", "val", "test")
SPLIT_MODES = ("identity", "image")
SPLITS_FORMAT = "petface-splits"
# identity mode: the fractions of identities; image mode: the fractions of each identity's images.
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1
# identity mode needs negative pairs in val and test, so each holds at least this many identities.
MIN_HELD_OUT_IDENTITIES = 2

Item = tuple[str, str]  # (path relative to the data dir, identity name)


class DataError(PetfaceError, ValueError):
    """A dataset or splits file that cannot be used; the message names the path and what was expected."""


class IdentityScan(dict):
    """``{identity name: [image paths]}``, plus what the scan left out.

    ``unreadable`` lists ``(path, reason)`` for image files that failed to decode
    (corrupt, truncated, empty); ``ignored`` lists files without an image extension.
    """

    def __init__(self, identities: dict[str, list[Path]], unreadable: list[tuple[Path, str]],
                 ignored: list[Path]) -> None:
        super().__init__(identities)
        self.unreadable = unreadable
        self.ignored = ignored

    @property
    def num_images(self) -> int:
        return sum(len(paths) for paths in self.values())


def _check_image(path: Path) -> Optional[str]:
    """None when the file decodes completely; otherwise the reason (truncation shows only on decoding)."""
    try:
        load_image(path)
    except ImageError as exc:
        return str(exc)
    return None


def scan_identities(data_dir: str | os.PathLike, verify: bool = True, threads: Optional[int] = None) -> IdentityScan:
    """Find every identity folder of ``data_dir`` and its image files, sorted by name.

    Image files are recognised by extension in any letter case (jpg, jpeg, png, webp, bmp);
    other files and hidden entries are ignored. With ``verify`` every image is decoded once
    so corrupt or truncated files are skipped up front (and listed in ``unreadable``)
    instead of failing mid-training. Identity folders left with no image are dropped.
    """
    root = Path(data_dir)
    if not root.exists():
        raise DataError(f"{root}: no such data directory (expected one sub-folder of images per pet)")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory (expected one sub-folder of images per pet)")
    candidates: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        ignored.extend(p for p in files if not is_image_file(p))
        candidates[folder.name] = [p for p in files if is_image_file(p)]
    ignored.extend(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    unreadable: list[tuple[Path, str]] = []
    if verify:
        paths = [p for ps in candidates.values() for p in ps]
        # PIL releases the GIL while decoding, so threads overlap the work.
        with ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
            reasons = dict(zip(paths, pool.map(_check_image, paths)))
        unreadable = [(p, r) for p, r in reasons.items() if r is not None]
        bad = {p for p, _ in unreadable}
        candidates = {name: [p for p in ps if p not in bad] for name, ps in candidates.items()}
    identities = {name: ps for name, ps in candidates.items() if ps}
    if not identities:
        detail = f" ({len(unreadable)} unreadable image files)" if unreadable else ""
        raise DataError(f"{root}: no images found{detail}; expected one sub-folder per pet holding "
                        f"{'/'.join(e.lstrip('.') for e in ('.jpg', '.jpeg', '.png', '.webp', '.bmp'))} files")
    return IdentityScan(identities, unreadable, ignored)


def _held_out_count(total: int, fraction: float, minimum: int) -> int:
    return max(minimum, int(round(total * fraction)))


def split_identities(identities: dict[str, list[Path]], mode: str = "identity", seed: int = 42,
                     data_dir: Optional[str | os.PathLike] = None) -> dict[str, list[Item]]:
    """Deterministic train/val/test split of a scan, as ``(relpath, identity)`` items.

    ``identity`` (open set): identities with at least 2 images are shuffled with ``seed`` and
    divided 80/10/10, so no pet crosses splits. ``image`` (closed set): every identity with at
    least 3 images appears in every split, its images divided 80/10/10. Relative paths are
    relative to ``data_dir`` (default: the parent of the identity folders).
    """
    if mode not in SPLIT_MODES:
        raise DataError(f"unknown split mode {mode!r}; choose one of {', '.join(SPLIT_MODES)}")
    need = 2 if mode == "identity" else 3
    usable = {name: sorted(ps) for name, ps in sorted(identities.items()) if len(ps) >= need}
    if not usable:
        raise DataError(f"no identity has at least {need} images (found {len(identities)} identities); "
                        f"{mode} splits need {need}+ photos of each pet")
    root = Path(data_dir) if data_dir is not None else next(iter(usable.values()))[0].parent.parent

    def items(name: str, paths: Iterable[Path]) -> list[Item]:
        return [(p.relative_to(root).as_posix(), name) for p in paths]

    rng = np.random.default_rng(seed)
    splits: dict[str, list[Item]] = {s: [] for s in SPLIT_NAMES}
    names = list(usable)
    if mode == "identity":
        n_val = _held_out_count(len(names), VAL_FRACTION, MIN_HELD_OUT_IDENTITIES)
        n_test = _held_out_count(len(names), TEST_FRACTION, MIN_HELD_OUT_IDENTITIES)
        n_train = len(names) - n_val - n_test
        if n_train < 2:
            raise DataError(f"only {len(names)} identities with 2+ images: an identity split needs at least "
                            f"{2 + 2 * MIN_HELD_OUT_IDENTITIES} (2 to train, {MIN_HELD_OUT_IDENTITIES} each for "
                            "val and test); use split mode 'image' for a small closed set of pets")
        order = [names[i] for i in rng.permutation(len(names))]
        bounds = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
        for split, members in bounds.items():
            for name in sorted(members):
                splits[split].extend(items(name, usable[name]))
    else:
        if len(names) < 2:
            raise DataError("an image split needs at least 2 identities with 3+ images (found 1)")
        for name in names:
            paths = [usable[name][i] for i in rng.permutation(len(usable[name]))]
            n_val = _held_out_count(len(paths), VAL_FRACTION, 1)
            n_test = _held_out_count(len(paths), TEST_FRACTION, 1)
            n_train = len(paths) - n_val - n_test
            splits["train"].extend(items(name, sorted(paths[:n_train])))
            splits["val"].extend(items(name, sorted(paths[n_train:n_train + n_val])))
            splits["test"].extend(items(name, sorted(paths[n_train + n_val:])))
    return splits


def write_splits(path: str | os.PathLike, splits: dict[str, list[Item]], data_dir: str | os.PathLike,
                 mode: str, seed: int) -> Path:
    """Write ``splits.json`` (atomically: readers never see half a file)."""
    path = Path(path)
    payload = {
        "format": SPLITS_FORMAT,
        "seed": seed,
        "mode": mode,
        "data_dir": str(Path(data_dir).resolve()),
        "splits": {name: [[rel, label] for rel, label in splits[name]] for name in SPLIT_NAMES},
    }
    return write_json_atomic(path, payload, indent=1)


def read_splits_file(path: str | os.PathLike) -> dict:
    """The whole ``splits.json`` (seed, mode, data_dir, splits), validated."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no such splits file (petface-train writes splits.json in its output dir)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable splits.json ({exc.__class__.__name__}: {exc})") from None
    splits = raw.get("splits") if isinstance(raw, dict) else None
    if not isinstance(splits, dict) or not all(isinstance(splits.get(s), list) for s in SPLIT_NAMES):
        raise DataError(f"{path}: not a petface splits.json (expected 'splits' with {', '.join(SPLIT_NAMES)} lists)")
    for name in SPLIT_NAMES:
        for entry in splits[name]:
            if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) for v in entry)):
                raise DataError(f"{path}: split {name!r} holds {entry!r}; expected [relative path, identity] pairs")
    return raw


def load_splits(path: str | os.PathLike) -> dict[str, list[Item]]:
    """``{"train"|"val"|"test": [(relpath, identity), ...]}`` from a ``splits.json``."""
    raw = read_splits_file(path)
    return {name: [(rel, label) for rel, label in raw["splits"][name]] for name in SPLIT_NAMES}
