"""Embeddings cached in the evaluation output directory, so re-running does not re-embed.

An entry is keyed by everything that determines the vectors: the model file's sha256,
the split, the exact image list, TTA and the probe applied. Anything else changed
(a metric, a plot, the number of pairs) reuses the entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..atomic import atomic_write

FOLDER = "embedding_cache"
VERSION = 1  # bump when the way vectors are computed changes (preprocessing, probes): old entries then miss


@dataclass
class Embedded:
    """Vectors for the images that could be read, and why the others could not."""

    vectors: np.ndarray  # (N, D) float32, rows of failed images are zero
    failed: dict[int, str]  # image index -> error message

    @property
    def ok(self) -> np.ndarray:
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.failed)] = False
        return mask


def cache_key(model_sha256: str, split: str, images: Sequence[str], tta: bool, probe: str) -> str:
    blob = json.dumps({"version": VERSION, "model": model_sha256, "split": split, "images": list(images),
                       "tta": tta, "probe": probe})
    return hashlib.sha256(blob.encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, output_dir: Path) -> None:
        self.folder = Path(output_dir) / FOLDER

    def _path(self, key: str) -> Path:
        return self.folder / f"{key[:24]}.npz"

    def load(self, key: str) -> Optional[Embedded]:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != key:
                    return None
                failed = json.loads(str(data["failed"]))
                return Embedded(data["vectors"], {int(i): msg for i, msg in failed.items()})
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is recomputed, never trusted

    def save(self, key: str, embedded: Embedded) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        with atomic_write(path) as f:
            np.savez(f, key=key, vectors=embedded.vectors, failed=json.dumps(embedded.failed))
