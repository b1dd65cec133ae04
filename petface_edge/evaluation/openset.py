"""Open-set 1:N identification in NIST FRVT's terms: FNIR at a fixed FPIR, per gallery size.

A *gallery* enrolls ``G`` pets with ``enroll`` photos each (one template per photo; a pet
scores its best template). *Mated* queries are the enrolled pets' other photos; *strangers*
are photos of pets not enrolled. At a threshold ``t``:

- FPIR (false positive identification rate): strangers whose best pet scores ``>= t``;
- FNIR (false negative identification rate): mated queries whose own pet is not the top
  match with a score ``>= t`` (rank 1 in FRVT's identification mode);
- rank-k (closed set, no threshold): mated queries whose pet is among the top ``k``.

The split is partitioned into gallery and strangers several times (``rounds``) with a seed,
and the scores are pooled. Thresholds at a target FPIR come from the strangers' best scores
(``petface_edge.thresholds.far_threshold``): they are measured here, not calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..thresholds import encode_labels, far_resolvable, far_threshold, rate_key

GALLERY_SIZES = (10, 100, 1000)
FPIR_TARGETS = (1e-1, 1e-2, 1e-3)
ENROLL_IMAGES = 2
MIN_STRANGER_PETS = 5  # a gallery size is measured only when this many pets stay out of it
ROUNDS = 10


@dataclass
class OpenSetScores:
    """Pooled scores of one gallery size: strangers' best scores, mated queries' own-pet score and rank."""

    pets: int
    templates: int  # templates per gallery (the N an identify threshold is chosen for)
    stranger_best: np.ndarray
    mated_score: np.ndarray
    mated_rank: np.ndarray  # 1-based, ties pessimistic (another pet at the same score ranks first)

    def fpir(self, threshold: float) -> float:
        return float(np.mean(self.stranger_best >= threshold))

    def fnir(self, threshold: float) -> float:
        return float(np.mean(~((self.mated_rank == 1) & (self.mated_score >= threshold))))

    def rank(self, k: int) -> float:
        return float(np.mean(self.mated_rank <= k))


def gallery_sizes(labels: Sequence, sizes: Sequence[int] = GALLERY_SIZES, enroll: int = ENROLL_IMAGES) -> list[int]:
    """The sizes the set can hold: pets with a photo beyond ``enroll`` for the gallery, ``MIN_STRANGER_PETS`` left."""
    counts = np.bincount(encode_labels(labels))
    eligible = int((counts > enroll).sum())
    return [g for g in sizes if g <= eligible and len(counts) - g >= MIN_STRANGER_PETS]


def open_set_scores(embeddings: np.ndarray, labels: Sequence, pets: int, enroll: int = ENROLL_IMAGES,
                    rounds: int = ROUNDS, seed: int = 0) -> OpenSetScores:
    """Enroll ``pets`` random pets (``enroll`` photos each) ``rounds`` times; score every other photo against them."""
    emb = np.asarray(embeddings, dtype=np.float32)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    y = encode_labels(labels)
    eligible = np.flatnonzero(np.bincount(y) > enroll)
    rng = np.random.default_rng(seed)
    stranger, mated, ranks = [], [], []
    for _ in range(rounds):
        chosen = rng.choice(eligible, pets, replace=False)
        slot = np.full(y.max() + 1, -1)
        slot[chosen] = np.arange(pets)
        templates, owner, enrolled = [], [], np.zeros(len(y), bool)
        for p, identity in enumerate(chosen):
            photos = rng.choice(np.flatnonzero(y == identity), enroll, replace=False)
            templates.append(emb[photos])
            owner += [p] * enroll
            enrolled[photos] = True
        sims = emb[~enrolled] @ np.concatenate(templates).T  # (queries, templates)
        pet_scores = np.full((len(sims), pets), -np.inf, np.float32)
        np.maximum.at(pet_scores.T, np.asarray(owner), sims.T)
        query_pet = slot[y[~enrolled]]
        is_mated = query_pet >= 0
        stranger.append(pet_scores[~is_mated].max(axis=1))
        own = pet_scores[is_mated, query_pet[is_mated]]
        mated.append(own)
        ranks.append((pet_scores[is_mated] >= own[:, None]).sum(axis=1))  # itself and every pet tied or above
    return OpenSetScores(pets, pets * enroll, np.concatenate(stranger).astype(np.float64),
                         np.concatenate(mated).astype(np.float64), np.concatenate(ranks))


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
