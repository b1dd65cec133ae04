"""Parity of an artifact with the PyTorch FP32 embedder, measured in the artifact's real runtime.

Embeddings come from :func:`petface_edge.runtime.backends.open_backend` plus the
artifact's contract (``runtime.contract``): exactly the path the SDK uses, so a pass
here is a pass for users. numpy only at import: converter processes use the stats too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from petface_edge.thresholds import best_accuracy, pair_scores

# Each gate is (statistic, bound); the "_drop_points" statistics are upper bounds, the rest lower bounds.
#
# The INT8 gate judges retrieval by the drop in Recall@1 (leave-one-out over the parity images: is the
# nearest other image of the same pet?), not by raw top-1 agreement. Agreement punishes near-ties: with a
# briefly trained model many queries have two neighbours within 0.001 cosine, INT8 swaps some of them, and
# agreement fell to 90-93% for artifacts whose cosine to FP32 was 0.998 and whose accuracy did not move.
# Such swaps go both ways, right-to-wrong as often as wrong-to-right, so they cancel in Recall@1; a real
# degradation does not. A drop counts only when it is both above the bound and significant: the exact
# one-sided McNemar test on the discordant queries (reference right / artifact wrong vs the reverse) must
# reject "no drop" at RECALL_ALPHA. So a drop within 0.5 point always passes, and any drop over 2 points
# that the sample can tell from chance (with 1,000 queries nearly every such drop; with 60, from 5 flips one way)
# fails.
GATES = {
    "fp32": {"cos_min": 0.9999},
    "fp16": {"cos_mean": 0.9995, "cos_min": 0.999},
    "int8": {"cos_mean": 0.99, "cos_p1": 0.97, "recall1_drop_points": 2.0, "acc_drop_points": 1.0},
}
UPPER_BOUNDS = ("acc_drop_points", "recall1_drop_points")
# A drop above its bound fails only when its one-sided p-value (the statistic named here) is below RECALL_ALPHA.
# The verification-accuracy drop gets the same treatment: with a 60-image test split one genuine pair is a
# third of a point, and a good INT8 artifact (cosine 0.9985, Recall@1 unchanged) measured 1.03 points.
SIGNIFICANCE = {"recall1_drop_points": "recall1_drop_p", "acc_drop_points": "acc_drop_p"}
RECALL_ALPHA = 0.05
# Converters pick a quantization recipe by the INT8 gate's cosine bounds, measured against the float
# graph on the calibration images (train split): the held-out parity images never steer a choice.
RECIPE_CHECK = {k: GATES["int8"][k] for k in ("cos_mean", "cos_p1")}
# Recipes that keep the "stem" float keep this many leading convs (MobileFaceNet: its two stem convs
# and first two bottlenecks, where per-tensor SQNR showed int8 losing most; see export/to_onnx.py).
STEM_CONVS = 8
BATCH = 32


@dataclass
class HeldOut:
    """Images the model never trained on, with identity labels (for retrieval and verification figures)."""

    pixels: np.ndarray  # (N, S, S, 3) uint8
    labels: list[str]
    source: str  # in words, for the manifest


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict:
    cos = cosine_rows(a, b)
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "cos_p1": float(np.percentile(cos, 1))}


def meets(stats: dict, bounds: dict) -> bool:
    return not failures(stats, bounds)


def search_recipes(recipes: Sequence[dict], build: Callable[[dict], tuple[Any, dict]]) -> tuple[dict, Any, list[dict]]:
    """Try quantization recipes best-first: keep the first whose self-check meets ``RECIPE_CHECK``.

    ``build(recipe)`` returns (the quantized model, its cosine stats against the float model on the
    calibration images). When none passes, the recipe with the best 1st-percentile cosine is kept.
    Returns (the kept recipe with its stats, its model, every recipe tried with its stats).
    """
    tried, models = [], {}
    for recipe in recipes:
        models[recipe["name"]], stats = build(recipe)
        tried.append({**recipe, **stats})
        if meets(stats, RECIPE_CHECK):
            break
    best = tried[-1] if meets(tried[-1], RECIPE_CHECK) else max(tried, key=lambda t: _finite_or_low(t["cos_p1"]))
    return best, models[best["name"]], tried


def _finite_or_low(value: float) -> float:
    return value if np.isfinite(value) else -np.inf


def nonfinite_problem(embeddings: np.ndarray, what: str = "parity images") -> str:
    """Why these outputs cannot be trusted (NaN or infinity in any row), or "" when every value is finite."""
    bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
    if not len(bad):
        return ""
    return f"outputs contain NaN or infinity on {len(bad)} of {len(embeddings)} {what} (first: image {bad[0]})"


def failures(stats: dict, bounds: dict) -> list[str]:
    """Each bound ``stats`` misses, in words (``cos_min 0.99981 < 0.9999``).

    Fails closed: a missing or non-finite statistic is a failure (``value < bound`` is False for NaN,
    so a plain comparison would pass an artifact whose every output is NaN).
    """
    out = []
    for key, bound in bounds.items():
        value = stats.get(key)
        if not isinstance(value, (int, float)) or not np.isfinite(value):
            out.append(f"{key} {value} is not a finite number")
        elif key in SIGNIFICANCE and value > bound:
            p_value = stats.get(SIGNIFICANCE[key])
            if not isinstance(p_value, (int, float)) or not np.isfinite(p_value):
                out.append(f"{key} {value:.4g} > {bound} (no significance measured)")
            elif p_value < RECALL_ALPHA:
                out.append(f"{key} {value:.4g} > {bound} (p {p_value:.2g} < {RECALL_ALPHA})")
        elif key in UPPER_BOUNDS and value > bound:
            out.append(f"{key} {value:.4g} > {bound}")
        elif key not in UPPER_BOUNDS and value < bound:
            out.append(f"{key} {value:.6g} < {bound}")
    return out


def _top1(emb: np.ndarray) -> np.ndarray:
    """Index of each row's nearest other row (blockwise: no N x N matrix held at once)."""
    out = np.empty(len(emb), dtype=np.int64)
    for start in range(0, len(emb), 256):
        sims = emb[start: start + 256] @ emb.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        out[start: start + 256] = sims.argmax(1)
    return out


def mcnemar_p(worse: int, better: int) -> float:
    """One-sided exact McNemar p-value that ``worse`` right-to-wrong flips against ``better`` wrong-to-right
    ones arose with no real drop (each discordant query equally likely to go either way)."""
    n = worse + better
    if worse == 0:
        return 1.0
    log_terms = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
                 for k in range(worse, n + 1)]
    return float(min(1.0, math.fsum(math.exp(t) for t in log_terms)))


def recall_at_1(reference: np.ndarray, embeddings: np.ndarray, labels: list[str]) -> dict:
    """Leave-one-out Recall@1 of the reference and the artifact on the same queries, and the paired drop.

    Queries whose pet has no other image in the set are left out (no right answer exists). The 95%
    interval is the normal one on the paired per-query differences; the p-value is the exact McNemar test.
    """
    lab = np.asarray(labels)
    counts = dict(zip(*np.unique(lab, return_counts=True)))
    queries = np.array([counts[v] > 1 for v in lab])
    ref_ok = (lab[_top1(reference)] == lab)[queries]
    art_ok = (lab[_top1(embeddings)] == lab)[queries]
    n = int(queries.sum())
    diff = ref_ok.astype(np.float64) - art_ok
    drop = 100 * diff.mean() if n else float("nan")
    half = 100 * 1.96 * diff.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    worse, better = int((ref_ok & ~art_ok).sum()), int((~ref_ok & art_ok).sum())
    return {"recall1_reference": float(ref_ok.mean()) if n else float("nan"),
            "recall1_artifact": float(art_ok.mean()) if n else float("nan"),
            "recall1_drop_points": float(drop), "recall1_drop_ci95": [float(drop - half), float(drop + half)],
            "recall1_worse": worse, "recall1_better": better, "recall1_drop_p": mcnemar_p(worse, better),
            "recall1_queries": n}


def parity(reference: np.ndarray, embeddings: np.ndarray, labels: list[str]) -> dict:
    """Cosine (mean, min, 1st percentile), max |diff|, Recall@1 drop, top-1 agreement, verification-accuracy delta.

    Recall@1 (see ``GATES``) is what the INT8 gate judges retrieval by. Top-1 agreement (the fraction
    of queries for which the artifact retrieves the same pet as the reference) and the stricter
    same-nearest-image rate are reported, not gated: near-ties swing them. The accuracy delta is
    taken at the reference's best-accuracy threshold on these images (balanced over genuine and
    impostor pairs).
    """
    stats = cosine_stats(reference, embeddings)
    ref_top, art_top = _top1(reference), _top1(embeddings)
    lab = np.asarray(labels)
    stats.update(recall_at_1(reference, embeddings, labels))
    stats.update(accuracy_drop(reference, embeddings, labels))
    stats.update({
        "max_abs_diff": float(np.abs(reference - embeddings).max()),
        "top1_agreement": float((lab[ref_top] == lab[art_top]).mean()),
        "top1_image_agreement": float((ref_top == art_top).mean()),
        "images": int(len(labels)),
    })
    return stats


def accuracy_drop(reference: np.ndarray, embeddings: np.ndarray, labels: list[str]) -> dict:
    """Balanced verification accuracy of both at the reference's best-accuracy threshold, on the same pairs.

    The drop is a weighted sum over the pairs whose decision changed (a genuine pair counts 50/G points,
    an impostor pair 50/I). Its p-value tests "no drop" by the normal approximation of the sign-flip
    test on those pairs: each changed pair equally likely to have gone either way.
    """
    ref_g, ref_i = pair_scores(reference, labels)
    art_g, art_i = pair_scores(embeddings, labels)  # the same pairs, in the same order
    threshold, acc_ref = best_accuracy(ref_g, ref_i)
    worse = np.concatenate([((ref_g >= threshold).astype(np.float64) - (art_g >= threshold)) * 50 / len(ref_g),
                            ((art_i >= threshold).astype(np.float64) - (ref_i >= threshold)) * 50 / len(ref_i)])
    drop = float(worse.sum())
    spread = math.sqrt(float((worse ** 2).sum()))
    p_value = 0.5 * math.erfc(drop / (spread * math.sqrt(2))) if drop > 0 else 1.0
    return {"reference_threshold": float(threshold), "acc_reference": float(acc_ref),
            "acc_artifact": float(acc_ref - drop / 100), "acc_drop_points": drop, "acc_drop_p": float(p_value),
            "acc_changed_pairs": int((worse != 0).sum())}


def embed_pixels(backend, contract_in, contract_out, pixels: np.ndarray) -> np.ndarray:
    """Run (N, S, S, 3) uint8 pixels through a loaded backend in its contract; (N, D) unit vectors."""
    from petface_edge.runtime.contract import from_output_tensor, to_input_tensor

    step = backend.fixed_batch or BATCH
    out = [from_output_tensor(backend.run(to_input_tensor(pixels[i: i + step], contract_in)), contract_out)
           for i in range(0, len(pixels), step)]
    return np.concatenate(out)


def reference_embeddings(model, pixels: np.ndarray) -> np.ndarray:
    """The PyTorch FP32 embedder on the same pixels (NCHW float 0..255)."""
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(pixels[i: i + BATCH].transpose(0, 3, 1, 2).astype(np.float32)))
                               .numpy() for i in range(0, len(pixels), BATCH)])


def _load(items: list, data_dir: Path, image_size: int) -> tuple[np.ndarray, list[str]]:
    from petface_edge.imaging import preprocess

    return np.stack([preprocess(data_dir / rel, image_size) for rel, _ in items]), [str(lab) for _, lab in items]


def held_out_sets(image_size: int, count: int, data_dir: Optional[Path], splits: Optional[Path]
                  ) -> tuple[HeldOut, HeldOut]:
    """(parity images, threshold images).

    With a dataset: parity on the whole test split (a draw stratified over its pets when it holds
    more than ``count`` images; the val split when the run kept no test split), thresholds on the val
    split. Without: procedural pets that no synthetic training set or calibration set contains.
    """
    if data_dir is not None:
        from petface_edge.calibration.dataset import stratified_pick
        from petface_edge.data import load_splits

        split = load_splits(splits)
        test, val = list(split.get("test", [])), list(split.get("val", []))
        if not val:
            raise ValueError(f"{splits}: the val split is empty; thresholds need held-out identities")
        name, pool = ("test", test) if test else ("val", val)
        chosen = pool if len(pool) <= count else stratified_pick(pool, count, seed=0)
        pixels, labels = _load(chosen, Path(data_dir), image_size)
        source = (f"the whole {name} split of {data_dir}" if len(chosen) == len(pool) else
                  f"{len(chosen)} of the {len(pool)} {name}-split images of {data_dir} (stratified over its pets)")
        if name == "val":
            source += " (the run kept no test split)"
        parity_set = HeldOut(pixels, labels, f"{len(chosen)} images: {source}")
        vp, vl = _load(val, Path(data_dir), image_size)
        return parity_set, HeldOut(vp, vl, f"val split of {data_dir}: {len(val)} images")
    from petface_edge.calibration.dataset import synthetic

    parity_set = synthetic(image_size, count, seed=1001)
    thresh_set = synthetic(image_size, max(count, 200), seed=1002)
    return (HeldOut(parity_set.pixels, parity_set.labels, f"{count} synthetic images (seed 1001, --data synthetic)"),
            HeldOut(thresh_set.pixels, thresh_set.labels,
                    f"{len(thresh_set)} synthetic images (seed 1002, --data synthetic)"))
