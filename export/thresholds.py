"""The thresholds shipped per artifact in the manifest, measured on held-out pairs (``petface_edge.thresholds``).

Besides the directly counted FAR thresholds, each artifact carries its two decision policies
(``verify``: a threshold per target FAR; ``identify``: per target FPIR, a threshold per gallery
template count), calibrated through the impostor tail model; the runtime decides with those.
"""

from __future__ import annotations

import numpy as np

from petface_edge.thresholds import (
    FAR_TARGETS,
    best_accuracy,
    calibrate_policies,
    far_resolvable,
    far_threshold,
    pair_scores,
    rate_key,
)


def thresholds(emb: np.ndarray, labels: list[str], source: str) -> dict:
    """FAR 1e-2 / 1e-3 / 1e-4 and best-accuracy cosine thresholds, and the verify / identify tables."""
    genuine, impostor = pair_scores(emb, labels)
    best, acc = best_accuracy(genuine, impostor)
    out = {f"far_{rate_key(far)}": far_threshold(impostor, far) for far in FAR_TARGETS}
    resolvable = [rate_key(far) for far in FAR_TARGETS if far_resolvable(len(impostor), far)]
    out.update({
        "best_accuracy": best,
        "best_accuracy_value": acc,
        "source": (f"{source}; {len(genuine)} genuine / {len(impostor)} impostor pairs; FAR resolvable down to "
                   f"{', '.join(resolvable) if resolvable else 'none of 1e-2..1e-4'}, lower FARs are set just above "
                   "the highest impostor score"),
    })
    policies = calibrate_policies(emb, labels)
    policies["calibration"]["source"] = source
    out.update(policies)
    return out
