"""Cosine thresholds per artifact: FAR 1e-2 / 1e-3 / 1e-4 and the best-accuracy point, from held-out pairs."""

from __future__ import annotations

import numpy as np

FARS = (1e-2, 1e-3, 1e-4)


def pair_scores(emb: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of every unordered pair, split into genuine (same identity) and impostor scores."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = emb @ emb.T
    i, j = np.triu_indices(len(labels), k=1)
    lab = np.asarray(labels)
    same = lab[i] == lab[j]
    return sims[i, j][same], sims[i, j][~same]


def best_accuracy_threshold(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Threshold (accept ``score >= t``) with the best balanced accuracy, i.e. accuracy on 50/50 pairs."""
    candidates = np.unique(np.concatenate([genuine, impostor]))
    g, imp = np.sort(genuine), np.sort(impostor)
    tpr = 1 - np.searchsorted(g, candidates, side="left") / max(len(g), 1)
    tnr = np.searchsorted(imp, candidates, side="left") / max(len(imp), 1)
    acc = 0.5 * (tpr + tnr)
    best = int(acc.argmax())
    return float(candidates[best]), float(acc[best])


def far_threshold(impostor: np.ndarray, far: float) -> float:
    """Smallest threshold whose false-accept rate on these impostor pairs is at most ``far``.

    With fewer than 1/far impostor pairs this is just above the highest impostor score
    (no impostor accepted): the best estimate the data supports, flagged in ``source``.
    """
    desc = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * len(desc)))
    return float(np.nextafter(np.float32(desc[allowed]), np.float32(np.inf)))


def thresholds(emb: np.ndarray, labels: list[str], source: str) -> dict:
    genuine, impostor = pair_scores(emb, labels)
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError(f"thresholds need genuine and impostor pairs; {source} has "
                         f"{len(genuine)} genuine and {len(impostor)} impostor")
    best, acc = best_accuracy_threshold(genuine, impostor)
    out = {f"far_{far:.0e}".replace("e-0", "e-"): far_threshold(impostor, far) for far in FARS}
    resolvable = [f"{far:.0e}".replace("e-0", "e-") for far in FARS if far * len(impostor) >= 1]
    out.update({
        "best_accuracy": best,
        "best_accuracy_value": acc,
        "source": (f"{source}; {len(genuine)} genuine / {len(impostor)} impostor pairs; FAR resolvable down to "
                   f"{', '.join(resolvable) if resolvable else 'none of 1e-2..1e-4'}, lower FARs are set just above "
                   "the highest impostor score"),
    })
    return out
