"""What the training loop iterates: augmented training images, plain evaluation images, P x K batches.

Images are returned as uint8 CHW tensors (0..255); the loop makes them float on the
device, and the model does the ImageNet normalization inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..imaging import load_image, preprocess
from .augment import train_pixels

# A sample key: an index, or (index, slot) when one epoch draws the same image more than once.
SampleKey = Union[int, tuple[int, int]]


def to_chw(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


class TrainImages(Dataset):
    """``(pixels, class index)`` with augmentation seeded by (seed, epoch, index, slot)."""

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], image_size: int, seed: int) -> None:
        self.paths = list(paths)
        self.labels = list(labels)
        self.image_size = image_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set before the epoch's loader is iterated: workers receive a fresh copy each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, int]:
        index, slot = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng([self.seed, self.epoch, index, slot])
        pixels = train_pixels(load_image(self.paths[index]), self.image_size, rng)
        return to_chw(pixels), self.labels[index]


class EvalImages(Dataset):
    """Pixels exactly as the runtime sees them: ``preprocess`` only."""

    def __init__(self, paths: Sequence[Path], image_size: int) -> None:
        self.paths = list(paths)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_chw(preprocess(self.paths[index], self.image_size))


class PKBatchSampler(Sampler):
    """Batches of P identities x K images for online triplet mining, split among processes.

    Each epoch shuffles identities with (seed, epoch); an identity with fewer than K images
    repeats some (with distinct slots, so each copy is augmented differently). Every process
    builds the same batch list and takes every ``world_size``-th batch.
    """

    def __init__(self, labels: Sequence[int], p: int, k: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.by_label: dict[int, list[int]] = {}
        for index, label in enumerate(labels):
            self.by_label.setdefault(label, []).append(index)
        self.p, self.k, self.seed = p, k, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.by_label) // self.p) // self.world_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        labels = sorted(self.by_label)
        order = [labels[i] for i in rng.permutation(len(labels))]
        batches, slot = [], 0
        for start in range(0, len(self) * self.world_size * self.p, self.p):
            batch = []
            for label in order[start:start + self.p]:
                pool = self.by_label[label]
                picks = rng.choice(len(pool), self.k, replace=len(pool) < self.k)
                for pick in picks:
                    batch.append((pool[int(pick)], slot))
                    slot += 1
            batches.append(batch)
        return iter(batches[self.rank::self.world_size])
