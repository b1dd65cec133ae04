"""Parity of an artifact with the PyTorch FP32 embedder, measured in the artifact's real runtime.

Embeddings come from :func:`petface_edge.runtime.backends.open_backend` plus the
artifact's contract (``runtime.contract``): exactly the path the SDK uses, so a pass
here is a pass for users. numpy only at import: converter processes use the stats too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from petface_edge.thresholds import best_accuracy, pair_scores

# Each gate is (statistic, bound); "acc_drop_points" is an upper bound, the rest lower bounds.
GATES = {
    "fp32": {"cos_min": 0.9999},
    "fp16": {"cos_mean": 0.9995, "cos_min": 0.999},
    "int8": {"cos_mean": 0.99, "cos_p1": 0.97, "top1_agreement": 0.95, "acc_drop_points": 1.0},
}
UPPER_BOUNDS = ("acc_drop_points",)
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
        elif key in UPPER_BOUNDS and value > bound:
            out.append(f"{key} {value:.4g} > {bound}")
        elif key not in UPPER_BOUNDS and value < bound:
            out.append(f"{key} {value:.6g} < {bound}")
    return out


def _top1(emb: np.ndarray) -> np.ndarray:
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    return sims.argmax(1)


def parity(reference: np.ndarray, embeddings: np.ndarray, labels: list[str]) -> dict:
    """Cosine (mean, min, 1st percentile), max |diff|, top-1 retrieval agreement, verification-accuracy delta.

    Top-1 agreement: the fraction of query images for which the artifact retrieves the same pet
    as the reference (the pet of the nearest other image, i.e. the SDK's identify decision with
    max-over-templates scoring); ``top1_image_agreement`` is the stricter same-nearest-image
    rate, reported, not gated (with a briefly trained model many neighbours are near-ties).
    The accuracy delta is taken at the reference's best-accuracy threshold on these images
    (balanced over genuine and impostor pairs).
    """
    stats = cosine_stats(reference, embeddings)
    ref_top, art_top = _top1(reference), _top1(embeddings)
    threshold, acc_ref = best_accuracy(*pair_scores(reference, labels))
    genuine, impostor = pair_scores(embeddings, labels)
    acc_art = 0.5 * ((genuine >= threshold).mean() + (impostor < threshold).mean())
    lab = np.asarray(labels)
    stats.update({
        "max_abs_diff": float(np.abs(reference - embeddings).max()),
        "top1_agreement": float((lab[ref_top] == lab[art_top]).mean()),
        "top1_image_agreement": float((ref_top == art_top).mean()),
        "reference_threshold": float(threshold),
        "acc_reference": float(acc_ref),
        "acc_artifact": float(acc_art),
        "acc_drop_points": float(100 * (acc_ref - acc_art)),
        "images": int(len(labels)),
    })
    return stats


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

    With a dataset: parity on the test split (topped up from val when the test split has fewer
    than ``count`` images), thresholds on the val split. Without: procedural pets that no
    synthetic training set or calibration set contains (their own seeds).
    """
    if data_dir is not None:
        from petface_edge.data import load_splits

        split = load_splits(splits)
        test, val = list(split.get("test", [])), list(split.get("val", []))
        if not val:
            raise ValueError(f"{splits}: the val split is empty; thresholds need held-out identities")
        chosen = (test + val)[:count]
        pixels, labels = _load(chosen, Path(data_dir), image_size)
        source = (f"test split of {data_dir}" if len(chosen) <= len(test) else
                  f"test split of {data_dir} ({len(test)} images) topped up from its val split")
        parity_set = HeldOut(pixels, labels, f"{len(chosen)} images: {source}")
        vp, vl = _load(val, Path(data_dir), image_size)
        return parity_set, HeldOut(vp, vl, f"val split of {data_dir}: {len(val)} images")
    from petface_edge.calibration.dataset import synthetic

    parity_set = synthetic(image_size, count, seed=1001)
    thresh_set = synthetic(image_size, max(count, 200), seed=1002)
    return (HeldOut(parity_set.pixels, parity_set.labels, f"{count} synthetic images (seed 1001, no --data-dir)"),
            HeldOut(thresh_set.pixels, thresh_set.labels,
                    f"{len(thresh_set)} synthetic images (seed 1002, no --data-dir)"))
