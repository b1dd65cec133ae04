"""Open-set 1:N identification in NIST FRVT's terms: FNIR at a fixed FPIR, per gallery size.

A *gallery* enrolls ``G`` pets with ``enroll`` photos each (one template per photo; a pet
scores its best template). *Mated* queries are the enrolled pets' other photos; *strangers*
are photos of pets not enrolled. At a threshold ``t``:

- FPIR (false positive identification rate): strangers whose best pet scores ``>= t``;
- FNIR (false negative identification rate): mated queries whose own pet is not the top
  match with a score ``>= t`` (rank 1 in FRVT's identification mode);
- rank-k (closed set, no threshold): mated queries whose pet is among the top ``k``.

The split is partitioned into gallery and strangers several times (``rounds``) with a seed,
and the scores are pooled (``petface_edge.thresholds.open_set_scores``, which export also uses to
check its identify table on the val split). Thresholds at a target FPIR come from the strangers' best scores
(``petface_edge.thresholds.far_threshold``): they are measured here, not calibrated.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..thresholds import (
    ENROLL_IMAGES,
    ROUNDS,
    far_resolvable,
    far_threshold,
    gallery_sizes,
    open_set_scores,
    rate_key,
)

GALLERY_SIZES = (10, 100, 1000)
FPIR_TARGETS = (1e-1, 1e-2, 1e-3)


def open_set_metrics(embeddings: np.ndarray, labels: Sequence, sizes: Sequence[int] = GALLERY_SIZES,
                     fpirs: Sequence[float] = FPIR_TARGETS, seed: int = 0) -> dict:
    """FNIR at each target FPIR, rank-1/5, and the DET curve, for each gallery size the set holds."""
    held = gallery_sizes(labels, sizes)
    out = {"gallery_sizes": held, "skipped_sizes": [g for g in sizes if g not in held],
           "enroll_images": ENROLL_IMAGES, "rounds": ROUNDS, "by_size": {}}
    for pets in held:
        s = open_set_scores(embeddings, labels, pets, seed=seed)
        at = {}
        for fpir in fpirs:
            t = far_threshold(s.stranger_best, fpir)
            at[rate_key(fpir)] = {"fnir": s.fnir(t), "threshold": t, "achieved_fpir": s.fpir(t),
                                  "resolved": far_resolvable(len(s.stranger_best), fpir)}
        grid = np.unique(np.quantile(s.stranger_best, np.linspace(0, 1, 201)))
        out["by_size"][str(pets)] = {
            "pets": pets, "templates": s.templates, "stranger_queries": int(len(s.stranger_best)),
            "mated_queries": int(len(s.mated_score)), "rank1": s.rank(1), "rank5": s.rank(5), "fnir_at_fpir": at,
            "det": {"fpir": [s.fpir(t) for t in grid], "fnir": [s.fnir(t) for t in grid]},
        }
    return out
