"""The thresholds shipped per artifact in the manifest, measured on held-out pairs (``petface_edge.thresholds``)."""

from __future__ import annotations

import numpy as np

from petface_edge.thresholds import FAR_TARGETS, best_accuracy, far_resolvable, far_threshold, pair_scores


def _key(far: float) -> str:
    return f"{far:.0e}".replace("e-0", "e-")


def thresholds(emb: np.ndarray, labels: list[str], source: str) -> dict:
    """FAR 1e-2 / 1e-3 / 1e-4 and best-accuracy cosine thresholds of one artifact's embeddings."""
    genuine, impostor = pair_scores(emb, labels)
    best, acc = best_accuracy(genuine, impostor)
    out = {f"far_{_key(far)}": far_threshold(impostor, far) for far in FAR_TARGETS}
    resolvable = [_key(far) for far in FAR_TARGETS if far_resolvable(len(impostor), far)]
    out.update({
        "best_accuracy": best,
        "best_accuracy_value": acc,
        "source": (f"{source}; {len(genuine)} genuine / {len(impostor)} impostor pairs; FAR resolvable down to "
                   f"{', '.join(resolvable) if resolvable else 'none of 1e-2..1e-4'}, lower FARs are set just above "
                   "the highest impostor score"),
    })
    return out
