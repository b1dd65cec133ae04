"""Operating points: the one definition of every decision threshold petface-edge uses.

Training (val accuracy), export (the thresholds shipped in the manifest, the parity gate's
accuracy delta) and evaluation (ROC, EER, TAR at FAR) all take their thresholds from here,
so "best accuracy" or "FAR 1e-3" means the same thing everywhere.

Conventions, once: a pair is accepted when ``score >= threshold`` (cosine similarity);
"genuine" pairs show the same pet, "impostor" pairs two different pets. Pair sampling is
bounded (``max_pairs``): a split is never turned into its full N x N similarity matrix.
numpy only: the runtime imports this module too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import InvalidArgumentError

FAR_TARGETS = (1e-2, 1e-3, 1e-4)
# Pairs scored per split: all genuine pairs up to half of this, impostor pairs for the rest.
# 200k impostor pairs resolve FAR 1e-4 with 20 false accepts.
DEFAULT_MAX_PAIRS = 400_000
# Enumerate every pair below this many (then choose among them); sample above it.
_ENUMERATE_LIMIT = 4_000_000


def encode_labels(labels: Sequence) -> np.ndarray:
    """Identity labels to dense int codes (same code = same identity)."""
    return np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)


def _positive_pairs(y: np.ndarray) -> np.ndarray:
    parts = [np.empty((0, 2), dtype=np.int64)]
    for members in np.split(np.argsort(y, kind="stable"), np.cumsum(np.bincount(y))[:-1]):
        a, b = np.triu_indices(len(members), 1)
        parts.append(np.stack([members[a], members[b]], axis=1))
    return np.concatenate(parts)


def _negative_pairs(y: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    if n * (n - 1) // 2 <= _ENUMERATE_LIMIT:  # small enough to enumerate every pair and choose among them
        i, j = np.triu_indices(n, 1)
        different = np.flatnonzero(y[i] != y[j])
        chosen = np.sort(rng.choice(len(different), count, replace=False))
        return np.stack([i[different[chosen]], j[different[chosen]]], axis=1)
    # Large sets: draw random pairs, keep distinct different-identity ones in draw order.
    codes = np.empty(0, dtype=np.int64)
    while len(codes) < count:
        a, b = rng.integers(0, n, size=(2, 2 * count))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = y[lo] != y[hi]
        codes = np.concatenate([codes, lo[keep] * n + hi[keep]])
        _, first = np.unique(codes, return_index=True)
        codes = codes[np.sort(first)]
    codes = codes[:count]
    return np.stack([codes // n, codes % n], axis=1)


def sample_pairs(labels: Sequence, n_pairs: int = DEFAULT_MAX_PAIRS, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Reproducible distinct unordered pairs: up to half genuine, the rest impostor.

    Random pairs would be almost all impostors on a real set; balancing keeps the TAR estimate
    usable while leaving about ``n_pairs / 2`` impostors to resolve small FARs. When fewer
    pairs exist than asked for, every pair is returned. Returns ``(pairs (M, 2), same (M,))``.
    """
    y = encode_labels(labels)
    if y.max(initial=-1) < 1:
        raise InvalidArgumentError("pair ranking needs at least 2 identities")
    rng = np.random.default_rng(seed)
    positives = _positive_pairs(y)
    all_negatives = len(y) * (len(y) - 1) // 2 - len(positives)
    n_pos = min(len(positives), n_pairs // 2)
    positives = positives[np.sort(rng.choice(len(positives), n_pos, replace=False))]
    negatives = _negative_pairs(y, min(all_negatives, n_pairs - n_pos), rng)
    pairs = np.concatenate([positives, negatives])
    same = np.concatenate([np.ones(len(positives), bool), np.zeros(len(negatives), bool)])
    return pairs, same


def pair_similarities(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine of each pair of (already L2-normalized) rows, in float64."""
    return np.einsum("ij,ij->i", embeddings[pairs[:, 0]], embeddings[pairs[:, 1]]).astype(np.float64)


def pair_scores(embeddings: np.ndarray, labels: Sequence, max_pairs: int = DEFAULT_MAX_PAIRS,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) cosine scores over a bounded, reproducible sample of pairs."""
    emb = np.asarray(embeddings, dtype=np.float32)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    pairs, same = sample_pairs(labels, max_pairs, seed)
    scores = pair_similarities(emb, pairs)
    return scores[same], scores[~same]


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC over every distinct score, accepting ``score >= threshold``: ``(far, tar, thresholds)``.

    The first point (0, 0) has a threshold just above the highest score (accept nothing);
    each later point's threshold is a score, so all pairs scoring it are accepted.
    """
    scores = np.concatenate([genuine, impostor]).astype(np.float64)
    is_pos = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    order = np.argsort(-scores, kind="stable")
    scores, is_pos = scores[order], is_pos[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(is_pos)[last_of_value]
    fp = (last_of_value + 1) - tp
    far = np.r_[0.0, fp / max(len(impostor), 1)]
    tar = np.r_[0.0, tp / max(len(genuine), 1)]
    thresholds = np.r_[np.nextafter(scores[0], np.inf), scores[last_of_value]]
    return far, tar, thresholds


def best_accuracy(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(threshold, balanced accuracy) at the threshold that maximizes balanced accuracy.

    Balanced accuracy is the mean of the genuine accept rate and the impostor reject rate:
    plain accuracy on an impostor-heavy sample would favour rejecting everything. Ties go
    to the stricter threshold (fewer false accepts).
    """
    if len(genuine) == 0 or len(impostor) == 0:
        raise InvalidArgumentError(f"a threshold needs genuine and impostor pairs; got {len(genuine)} genuine "
                                   f"and {len(impostor)} impostor")
    far, tar, thresholds = roc(genuine, impostor)
    accuracy = (tar + (1.0 - far)) / 2
    best = int(np.argmax(np.round(accuracy, 12)))  # first maximum = highest threshold (ROC runs high to low)
    return float(thresholds[best]), float(accuracy[best])


def far_threshold(impostor: np.ndarray, far: float) -> float:
    """The lowest threshold whose false-accept rate on these impostor scores is at most ``far``.

    With fewer than ``1 / far`` impostor scores no false accept is allowed, and this is just
    above the highest impostor score: the strictest estimate the data supports. Callers that
    need FARs the sample cannot resolve must model the tail instead.
    """
    desc = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    if len(desc) == 0:
        raise InvalidArgumentError("a FAR threshold needs impostor pairs")
    allowed = int(np.floor(far * len(desc)))
    if allowed >= len(desc):
        return float(desc[-1])
    return float(np.nextafter(desc[allowed], np.inf))


def far_resolvable(impostor_count: int, far: float) -> bool:
    """Whether ``impostor_count`` pairs can measure ``far`` (at least one false accept allowed)."""
    return impostor_count * far >= 1
