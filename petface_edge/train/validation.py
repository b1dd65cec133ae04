"""Verification accuracy on the val split: fixed pairs, best-accuracy metrics.

The design document's protocol: 5,000 pairs (half positive), cosine similarity; accuracy,
threshold, precision, recall and F1 at the best accuracy. The threshold is the one
definition in :mod:`petface_edge.thresholds` (every distinct score, ties to the stricter),
so training, export and evaluation report the same operating point.
In ``image`` split mode (closed set: each val pet has about one val image) a val image is
paired with the pet's training images, the gallery it would be matched against.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..thresholds import best_accuracy
from .datasets import EvalImages


@dataclass(frozen=True)
class Pairs:
    """Image pairs over ``paths`` (only the images some pair uses): ``first[i]`` vs ``second[i]``."""

    paths: list[Path]
    first: np.ndarray
    second: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


def _draw(candidates: list[tuple[int, int]], count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``count`` distinct candidates, or with replacement when there are fewer."""
    if not candidates:
        return []
    picks = rng.choice(len(candidates), count, replace=len(candidates) < count)
    return [candidates[int(i)] for i in np.sort(picks)]


def verification_pairs(query: Sequence[tuple[Path, str]], reference: Sequence[tuple[Path, str]], count: int,
                       seed: int) -> Pairs:
    """``count`` pairs (half positive), each a query image against another query or reference image.

    Pairs are unordered and distinct while enough exist; tiny sets repeat pairs rather than
    shrink the count, so the estimate keeps its meaning.
    """
    pool = list(query) + list(reference)
    labels = np.array([label for _, label in pool])
    n_query = len(query)
    rng = np.random.default_rng([seed, 7])
    n_pos, n_neg = count // 2, count - count // 2

    def keep(i: int, j: int) -> bool:  # each unordered pair once; never an image with itself
        return j != i and (j >= n_query or i < j)

    positives = [(i, int(j)) for i in range(n_query) for j in np.flatnonzero(labels == labels[i]) if keep(i, int(j))]
    negative_total = sum(int((labels != labels[i]).sum()) for i in range(n_query))
    if negative_total <= 4 * n_neg:  # few enough to list, and rejection sampling would stall
        negatives = [(i, int(j)) for i in range(n_query) for j in np.flatnonzero(labels != labels[i])
                     if keep(i, int(j))]
        negatives = _draw(negatives, n_neg, rng)
    else:
        found: set[tuple[int, int]] = set()
        while len(found) < n_neg:
            i = rng.integers(0, n_query, 2 * n_neg)
            j = rng.integers(0, len(pool), 2 * n_neg)
            for a, b in zip(i.tolist(), j.tolist()):
                if labels[a] != labels[b] and len(found) < n_neg:
                    found.add((a, b) if b >= n_query else (min(a, b), max(a, b)))
        negatives = sorted(found)
    positives = _draw(positives, n_pos, rng)
    if not positives or not negatives:
        raise ValueError("validation needs two images of one pet and images of two pets; the val split has "
                         f"{len(set(labels[:n_query]))} identities in {n_query} images")
    pairs = np.array(positives + negatives)
    used, inverse = np.unique(pairs, return_inverse=True)
    inverse = inverse.reshape(pairs.shape)
    same = np.array([True] * len(positives) + [False] * len(negatives))
    return Pairs([pool[i][0] for i in used], inverse[:, 0], inverse[:, 1], same)


def verification_metrics(similarity: np.ndarray, same: np.ndarray) -> dict:
    """Accuracy, precision, recall and F1 at the best-accuracy threshold (:func:`petface_edge.thresholds.best_accuracy`)."""
    threshold, accuracy = best_accuracy(similarity[same], similarity[~same])
    accepted = similarity >= threshold
    tp = int((accepted & same).sum())
    precision = tp / max(1, int(accepted.sum()))
    recall = tp / max(1, int(same.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": accuracy,
        "threshold": threshold,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "pairs": int(len(same)),
    }


@torch.no_grad()
def embed_paths(embedder: torch.nn.Module, paths: Sequence[Path], image_size: int, device: torch.device,
                batch_size: int = 64, workers: int = 0) -> np.ndarray:
    """Embeddings of ``paths`` as the runtime would compute them (``preprocess``, eval mode)."""
    was_training = embedder.training
    embedder.eval()
    loader = DataLoader(EvalImages(paths, image_size), batch_size=batch_size, num_workers=workers)
    out = []
    for pixels in loader:
        x = pixels.to(device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            out.append(embedder(x).float().cpu())
    embedder.train(was_training)
    return torch.cat(out).numpy()


@torch.no_grad()
def precise_batchnorm(embedder: nn.Module, paths: Sequence[Path], image_size: int, device: torch.device,
                      batch_size: int = 64, workers: int = 0) -> nn.Module:
    """A copy of ``embedder`` whose BatchNorm statistics are exact averages over ``paths``.

    Running statistics are exponential averages that trail the weights; after a short run
    they are far enough off that eval-mode embeddings all point one way. Recomputing them
    once over un-augmented training images ("precise BN") gives the statistics of the
    final weights. The training model itself is left untouched.
    """
    model = copy.deepcopy(embedder).eval()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(paths) < 2:
        return model
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    batch = min(batch_size, len(paths))
    loader = DataLoader(EvalImages(paths, image_size), batch_size=batch, num_workers=workers, drop_last=True)
    for pixels in loader:
        x = pixels.to(device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def validate(embedder: torch.nn.Module, pairs: Pairs, image_size: int, device: torch.device,
             workers: int = 0) -> dict:
    emb = embed_paths(embedder, pairs.paths, image_size, device, workers=workers)
    similarity = (emb[pairs.first] * emb[pairs.second]).sum(axis=1)
    return verification_metrics(similarity, pairs.same)
