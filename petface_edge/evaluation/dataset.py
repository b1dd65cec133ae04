"""The images an evaluation runs on: one split of a dataset folder, optionally capped.

Folder scanning and ``splits.json`` parsing are the training code's (``petface_edge.data``),
so evaluation sees exactly the images training held out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..runtime.manifest import Manifest, ManifestError
from .runner import EvalError

SPLITS = ("test", "val", "train")
ALL = "all"  # every image in the folder: for a dataset the model never saw


@dataclass
class EvalSet:
    data_dir: Path
    split: str
    relpaths: list[str]
    labels: np.ndarray  # identity name per image

    @property
    def paths(self) -> list[Path]:
        return [self.data_dir / r for r in self.relpaths]

    @property
    def identities(self) -> int:
        return len(set(self.labels.tolist()))

    def subset(self, index: np.ndarray) -> "EvalSet":
        return EvalSet(self.data_dir, self.split, [self.relpaths[i] for i in index], self.labels[index])


def find_splits(model: Path) -> Optional[Path]:
    """The ``splits.json`` of the training run behind ``model``.

    Beside a checkpoint (petface-train writes both into its output directory), or, for an
    export, beside the checkpoint its manifest was built from.
    """
    folder = model if model.is_dir() else model.parent
    candidates = [folder / "splits.json"]
    if (folder / "manifest.json").is_file():
        try:
            checkpoint = Manifest.load(folder).model.get("checkpoint")
        except ManifestError:
            checkpoint = None
        if checkpoint:
            candidates.append(Path(checkpoint).parent / "splits.json")
    return next((c for c in candidates if c.is_file()), None)


def load_eval_set(data_dir: Path, split: str, splits_file: Optional[Path]) -> EvalSet:
    from .. import data

    if not data_dir.is_dir():
        raise EvalError(f"{data_dir}: no such dataset folder (expected one sub-folder of images per identity)")
    try:
        if split == ALL:
            # Unreadable files are found (and counted) by the embedding pass: no second decode here.
            identities = data.scan_identities(data_dir, verify=False)
            items = [(p.relative_to(data_dir).as_posix(), name) for name in sorted(identities)
                     for p in identities[name]]
        else:
            if splits_file is None:
                raise EvalError(f"no splits.json found beside the model: pass --splits (petface-train writes "
                                f"one) or --split {ALL} to use every image in {data_dir}")
            splits = data.load_splits(splits_file)
            if split not in splits:
                raise EvalError(f"{splits_file}: no split {split!r} (have {', '.join(sorted(splits))})")
            items = list(splits[split])
    except data.DataError as exc:
        raise EvalError(str(exc)) from None
    if not items:
        raise EvalError(f"split {split!r} of {data_dir} holds no images")
    relpaths = [str(r) for r, _ in items]
    if not any((data_dir / r).is_file() for r in relpaths[:200]):
        raise EvalError(f"none of the images of split {split!r} exist under {data_dir} (first: {relpaths[0]}); "
                        "pass the --data-dir the model was trained on")
    return EvalSet(data_dir, split, relpaths, np.array([str(label) for _, label in items]))


def cap_images(evalset: EvalSet, max_images: Optional[int], seed: int) -> EvalSet:
    """At most ``max_images`` images, drawn as whole identities so none is cut to a singleton."""
    if max_images is None or len(evalset.relpaths) <= max_images:
        return evalset
    rng = np.random.default_rng(seed)
    names, counts = np.unique(evalset.labels, return_counts=True)
    keep, total = [], 0
    for i in rng.permutation(len(names)):
        if total + counts[i] <= max_images:
            keep.append(names[i])
            total += counts[i]
    return evalset.subset(np.flatnonzero(np.isin(evalset.labels, keep)))
