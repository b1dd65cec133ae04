"""Embedding-quality metrics: retrieval, clustering, pair ranking, triplets, matched overfitting samples.

Pure numpy / scikit-learn, no model code. Embeddings are L2-normalized rows, so cosine
similarity is a dot product. Labels may be any hashable values (identity folder names).

Ties are broken *pessimistically* wherever a ranking is involved: a wrong gallery item with
the same similarity as a right one ranks ahead of it. A collapsed model (every embedding
equal) then scores Recall@1 = 0 instead of whatever the file order happens to give.
Samplers take a seed and return the same pairs / triplets for the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..thresholds import (  # noqa: F401  (sample_pairs, pair_similarities: re-exported for callers)
    FAR_TARGETS,
    best_accuracy,
    encode_labels,
    far_resolvable,
    far_threshold,
    pair_similarities,
    roc,
    sample_pairs,
)


def query_mask(labels: Sequence) -> np.ndarray:
    """True for images whose identity has at least one other image (they can be queries)."""
    y = encode_labels(labels)
    return np.bincount(y)[y] >= 2


@dataclass
class Ranking:
    """Where each query's identity lands in the similarity-ranked gallery.

    ``first_hit``: 1-based rank of the first same-identity item; ``top``: gallery indices of the
    best ``k`` items; ``top_correct``: whether each is the query's identity; ``positives``: how
    many same-identity items the gallery holds for the query (itself excluded).
    """

    first_hit: np.ndarray
    top: np.ndarray
    top_similarity: np.ndarray
    top_correct: np.ndarray
    positives: np.ndarray


def rank_gallery(queries: np.ndarray, query_labels: Sequence, gallery: np.ndarray, gallery_labels: Sequence,
                 exclude: np.ndarray | None = None, top: int = 10, chunk: int = 512) -> Ranking:
    """Rank ``gallery`` by cosine similarity for each query, ties pessimistic.

    ``exclude[i]`` is the gallery index of query ``i`` itself (leave-one-out), or -1 for none.
    Every query must have at least one same-identity item left in the gallery.
    """
    codes = encode_labels(np.concatenate([np.asarray(query_labels), np.asarray(gallery_labels)]))
    qy, gy = codes[: len(queries)], codes[len(queries):]
    exclude = np.full(len(queries), -1) if exclude is None else np.asarray(exclude)
    k = min(top, len(gallery) - int((exclude >= 0).any()))
    out = {name: [] for name in ("first_hit", "top", "top_similarity", "top_correct", "positives")}
    for lo in range(0, len(queries), chunk):
        hi = min(lo + chunk, len(queries))
        sim = queries[lo:hi].astype(np.float32) @ gallery.astype(np.float32).T
        same = qy[lo:hi, None] == gy[None, :]
        rows = np.arange(hi - lo)
        own = exclude[lo:hi]
        valid = np.ones_like(same)
        valid[rows[own >= 0], own[own >= 0]] = False
        same &= valid
        positives = same.sum(axis=1)
        if (positives == 0).any():
            raise ValueError("every query needs another image of its identity in the gallery")
        best_positive = np.where(same, sim, -np.inf).max(axis=1)
        # Pessimistic rank: every wrong item at least as similar as the best right one is ahead of it.
        ahead = ((sim >= best_positive[:, None]) & ~same & valid).sum(axis=1)
        # Sort by similarity descending, wrong before right on ties, excluded items last.
        key = np.where(valid, -sim, np.inf)
        order = np.lexsort((same, key), axis=-1)[:, :k]
        out["first_hit"].append(ahead + 1)
        out["top"].append(order)
        out["top_similarity"].append(np.take_along_axis(sim, order, axis=1))
        out["top_correct"].append(np.take_along_axis(same, order, axis=1))
        out["positives"].append(positives)
    return Ranking(**{name: np.concatenate(parts) for name, parts in out.items()})


def retrieval_from_ranking(ranking: Ranking, ks: Sequence[int] = (1, 5, 10), ndcg_at: int = 10) -> dict:
    """Recall@k, MRR and NDCG@k (binary relevance, every same-identity image relevant)."""
    result = {f"recall@{k}": float(np.mean(ranking.first_hit <= k)) for k in ks}
    result["mrr"] = float(np.mean(1.0 / ranking.first_hit))
    n = min(ndcg_at, ranking.top_correct.shape[1])
    discounts = 1.0 / np.log2(np.arange(2, n + 2))
    dcg = (ranking.top_correct[:, :n] * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(ranking.positives, n) - 1]
    result[f"ndcg@{ndcg_at}"] = float(np.mean(dcg / ideal))
    return result


def retrieval_metrics(embeddings: np.ndarray, labels: Sequence, ks: Sequence[int] = (1, 5, 10),
                      ndcg_at: int = 10) -> dict:
    """Leave-one-out retrieval over one set: every image with a same-identity partner queries all others.

    Images of single-image identities are not queries but stay in the gallery as distractors.
    """
    labels = np.asarray(labels)
    mask = query_mask(labels)
    if not mask.any():
        raise ValueError("no identity has two images: nothing to retrieve")
    queries = np.flatnonzero(mask)
    ranking = rank_gallery(embeddings[queries], labels[queries], embeddings, labels, exclude=queries,
                           top=max(max(ks), ndcg_at))
    result = retrieval_from_ranking(ranking, ks, ndcg_at)
    result["queries"] = int(len(queries))
    result["distractors"] = int((~mask).sum())
    return result


def purity(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Fraction of samples that belong to their cluster's majority identity."""
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


def clustering_metrics(embeddings: np.ndarray, labels: Sequence, seed: int = 42) -> dict:
    """KMeans with k = number of identities; NMI, ARI and purity against the identities."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y = encode_labels(labels)
    k = int(y.max()) + 1
    predicted = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(embeddings.astype(np.float64))
    return {
        "nmi": float(normalized_mutual_info_score(y, predicted)),
        "ari": float(adjusted_rand_score(y, predicted)),
        "purity": purity(y, predicted),
        "k": k,
    }


def pair_metrics(positive: np.ndarray, negative: np.ndarray, far_targets: Sequence[float] = FAR_TARGETS) -> dict:
    """ROC-AUC, EER, TAR and threshold at each FAR target, best balanced-accuracy threshold (cosine, accept >=)."""
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("pair ranking needs both same-identity and different-identity pairs")
    far, tar, thresholds = roc(positive, negative)
    # EER: where FAR crosses FRR = 1 - TAR, interpolated between the two ROC points around it.
    gap = far - (1.0 - tar)  # -1 at the first ROC point, +1 at the last
    k = int(np.argmax(gap >= -1e-12))  # tolerance: 1/3 - (1 - 2/3) is not exactly 0 in floats
    t = -gap[k - 1] / (gap[k] - gap[k - 1])
    eer = far[k - 1] + t * (far[k] - far[k - 1])
    best_threshold, best_acc = best_accuracy(positive, negative)
    result = {
        "roc_auc": float(np.trapezoid(tar, far)),
        "eer": float(eer),
        "eer_threshold": float(thresholds[k]),
        "best_accuracy": best_acc,
        "best_accuracy_threshold": best_threshold,
        "positives": int(len(positive)),
        "negatives": int(len(negative)),
        "far": {},
    }
    for target in far_targets:
        threshold = far_threshold(negative, target)
        result["far"][f"{target:.0e}"] = {
            "tar": float(np.mean(positive >= threshold)),
            "threshold": threshold,
            "achieved_far": float(np.mean(negative >= threshold)),
            # Below 1 / negatives the estimate rests on zero false accepts: report it, flag it.
            "resolved": far_resolvable(len(negative), target),
        }
    return result


def sample_triplets(labels: Sequence, n_triplets: int = 20_000, seed: int = 42) -> np.ndarray:
    """Reproducible (anchor, positive, negative) index triplets, anchors uniform over query-able images."""
    y = encode_labels(labels)
    if y.max(initial=-1) < 1:
        raise ValueError("triplets need at least 2 identities")
    rng = np.random.default_rng(seed)
    counts = np.bincount(y)
    eligible = np.flatnonzero(counts[y] >= 2)
    if len(eligible) == 0:
        raise ValueError("triplets need an identity with two images")
    by_identity = np.argsort(y, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.empty(len(y), dtype=np.int64)
    position[by_identity] = np.arange(len(y)) - starts[y[by_identity]]
    anchors = eligible[rng.integers(0, len(eligible), n_triplets)]
    ay = y[anchors]
    offset = rng.integers(0, counts[ay] - 1)  # another member of the anchor's identity, never itself
    offset += offset >= position[anchors]
    positives = by_identity[starts[ay] + offset]
    negatives = rng.integers(0, len(y), n_triplets)
    while (clash := y[negatives] == ay).any():
        negatives[clash] = rng.integers(0, len(y), int(clash.sum()))
    return np.stack([anchors, positives, negatives], axis=1)


def triplet_metrics(embeddings: np.ndarray, triplets: np.ndarray) -> dict:
    """Violation rate (negative at least as similar as the positive) and mean margin sim(a,p) - sim(a,n)."""
    anchor = embeddings[triplets[:, 0]]
    sim_pos = np.einsum("ij,ij->i", anchor, embeddings[triplets[:, 1]])
    sim_neg = np.einsum("ij,ij->i", anchor, embeddings[triplets[:, 2]])
    return {
        "violation_rate": float(np.mean(sim_neg >= sim_pos)),
        "mean_margin": float(np.mean(sim_pos - sim_neg)),
        "triplets": int(len(triplets)),
    }


def matched_sample(labels_a: Sequence, labels_b: Sequence, max_images: int = 2000,
                   seed: int = 42) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The same number of identities ``k`` with the same images per identity ``m`` from two sets.

    Recall@1 depends on gallery size and images per identity; comparing train and test Recall@1
    means nothing unless both are measured on equally shaped sets. Chooses the ``m >= 2`` that
    gives the most images (``k * m <= max_images``, ``k >= 2``, ties to more identities).
    Returns ``(indices_a, indices_b, k, m)``.
    """
    ya, yb = encode_labels(labels_a), encode_labels(labels_b)
    ca, cb = np.bincount(ya), np.bincount(yb)
    best = (0, 0, 0)  # (images, k, m)
    for m in range(2, int(min(ca.max(), cb.max())) + 1):
        k = min(int((ca >= m).sum()), int((cb >= m).sum()), max_images // m)
        if k >= 2 and (k * m, k) > best[:2]:
            best = (k * m, k, m)
    _, k, m = best
    if k == 0:
        raise ValueError("the overfitting check needs 2 identities with 2 images in both sets")
    rng = np.random.default_rng(seed)

    def draw(y: np.ndarray, counts: np.ndarray) -> np.ndarray:
        identities = rng.choice(np.flatnonzero(counts >= m), k, replace=False)
        return np.concatenate([rng.choice(np.flatnonzero(y == i), m, replace=False) for i in np.sort(identities)])

    return draw(ya, ca), draw(yb, cb), k, m
