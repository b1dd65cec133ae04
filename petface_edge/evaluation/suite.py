"""The benchmark behind ``petface-eval``: one model on one split, every metric, results.json and plots.

The same code path serves a PyTorch checkpoint and every exported artifact (see
``runner``), so an INT8 TFLite model gets exactly the table its FP32 parent gets.
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

from ..atomic import write_json_atomic
from . import metrics, plots
from .cache import Embedded, EmbeddingCache, cache_key
from .dataset import ALL, SPLITS, EvalSet, cap_images, find_splits, load_eval_set
from .degradations import PROBES
from .openset import open_set_metrics
from .runner import EvalError, EvalModel, open_model

SCHEMA = "petface-eval"
SCHEMA_VERSION = 1
NEIGHBOUR_QUERIES = 10
NEIGHBOURS = 5


@dataclass
class EvalConfig:
    model: Path
    data_dir: Path
    output_dir: Path
    split: str = "test"
    splits: Optional[Path] = None  # default: splits.json beside the model
    backend: str = "auto"  # for export directories: "auto", a format or an artifact id
    tta: bool = False
    max_images: Optional[int] = None
    seed: int = 42
    threads: Optional[int] = None
    image_size: Optional[int] = None  # when given, the model's input size must equal it
    pairs: int = 50_000
    triplets: int = 20_000
    robustness_images: int = 1_000  # 0 skips the probes
    overfit_images: int = 2_000
    plots: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("model", "data_dir", "output_dir", "splits"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))


class _Run:
    """State of one evaluation: the model, the embedding cache, warnings."""

    def __init__(self, config: EvalConfig, model: EvalModel, warn: Callable[[str], None]) -> None:
        self.config = config
        self.model = model
        self.cache = EmbeddingCache(config.output_dir)
        self.warnings: list[str] = []
        self._warn = warn
        self.cache_hits = self.cache_misses = 0

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._warn(message)

    def embed(self, evalset: EvalSet, probe: str = "clean") -> Embedded:
        key = cache_key(self.model.sha256, evalset.split, evalset.relpaths, self.config.tta, probe)
        cached = self.cache.load(key)
        if cached is not None:
            self.cache_hits += 1
            return cached
        self.cache_misses += 1
        progress = None
        if self.config.progress:
            from tqdm import tqdm

            progress = partial(tqdm, desc=f"embed {evalset.split} [{probe}]", unit="img", file=sys.stderr,
                               leave=False)
        fn = PROBES[probe][0] if probe != "clean" else None
        # Noise seeded by the image's path: the same image always gets the same noise, so the
        # cache key (image list + probe) determines the vectors.
        seeds = [zlib.crc32(relpath.encode()) for relpath in evalset.relpaths]
        embedded = self.model.embed_images(evalset.paths, tta=self.config.tta, probe=fn, seeds=seeds,
                                           progress=progress)
        self.cache.save(key, embedded)
        return embedded

    def readable(self, evalset: EvalSet, embedded: Embedded) -> tuple[EvalSet, np.ndarray]:
        """Drop images that could not be read, with one counted warning."""
        if embedded.failed:
            first = next(iter(embedded.failed.values()))
            self.warn(f"{len(embedded.failed)} of {len(evalset.relpaths)} images of split '{evalset.split}' "
                      f"unreadable, skipped (first: {first})")
        ok = embedded.ok
        return evalset.subset(np.flatnonzero(ok)), embedded.vectors[ok]


def _check_identities(evalset: EvalSet, when: str = "") -> None:
    n = evalset.identities
    where = f"split {evalset.split!r} of {evalset.data_dir}{when}"
    if n < 2:
        raise EvalError(f"{where} has {n} identit{'y' if n == 1 else 'ies'}: evaluation needs at least 2")
    if not metrics.query_mask(evalset.labels).any():
        raise EvalError(f"{where}: no identity has 2 images, so nothing can be retrieved")


def _count_upscaled(paths: list[Path], size: int) -> int:
    """Images whose shorter side is below the model input (read from the header only)."""
    smaller = 0
    for path in paths:
        try:
            with Image.open(path) as img:
                smaller += min(img.size) < size
        except (OSError, ValueError):
            pass  # unreadable files are reported by the embedding pass
    return smaller


def evaluate(config: EvalConfig, warn: Callable[[str], None] = lambda message: None) -> dict:
    """Run every benchmark, write ``results.json`` and the plots into ``config.output_dir``; return the results."""
    start = time.perf_counter()
    if config.split not in SPLITS + (ALL,):
        raise EvalError(f"unknown split {config.split!r}; choose test, val, train or all")
    model = open_model(config.model, config.backend, config.threads)
    if config.image_size is not None and config.image_size != model.image_size:
        raise EvalError(f"{config.model}: model input is {model.image_size}x{model.image_size}, "
                        f"but --image-size {config.image_size} was requested")
    splits_file = config.splits if config.splits is not None else find_splits(config.model)
    full = load_eval_set(config.data_dir, config.split, splits_file)
    evalset = cap_images(full, config.max_images, config.seed)
    _check_identities(evalset)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(config, model, warn)
    for message in model.info.get("skipped_artifacts", []):
        run.warn(f"artifact passed over: {message}")

    evalset, emb = run.readable(evalset, run.embed(evalset))
    _check_identities(evalset, " (after skipping unreadable images)")
    labels = evalset.labels
    names, counts = np.unique(labels, return_counts=True)
    singles = int((counts == 1).sum())
    if singles:
        run.warn(f"{singles} identit{'y has' if singles == 1 else 'ies have'} a single image: kept as "
                 "distractors, not used as queries")
    upscaled = _count_upscaled(evalset.paths, model.image_size)
    if upscaled:
        run.warn(f"{upscaled} of {len(labels)} images are smaller than the model's "
                 f"{model.image_size}x{model.image_size} input and were upscaled")

    results: dict = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "model": {k: v for k, v in model.info.items() if k != "skipped_artifacts"},
        "data": {
            "data_dir": str(config.data_dir),
            "splits_file": str(splits_file) if splits_file else None,
            "split": config.split,
            "split_images": len(full.relpaths),
            "images": int(len(labels)),
            "identities": int(len(names)),
            "query_images": int(metrics.query_mask(labels).sum()),
            "single_image_identities": singles,
            "upscaled_images": upscaled,
            "image_list_sha256": hashlib.sha256("\n".join(evalset.relpaths).encode()).hexdigest(),
        },
        "settings": {"tta": config.tta, "seed": config.seed, "max_images": config.max_images,
                     "threads": config.threads, "pairs": config.pairs, "triplets": config.triplets},
    }
    results["retrieval"] = metrics.retrieval_metrics(emb, labels)
    with warnings.catch_warnings():  # a collapsed (untrained) model finds fewer distinct clusters than k
        warnings.simplefilter("ignore")
        results["clustering"] = metrics.clustering_metrics(emb, labels, config.seed)
    pairs, same = metrics.sample_pairs(labels, config.pairs, config.seed)
    similarity = metrics.pair_similarities(emb, pairs)
    positive, negative = similarity[same], similarity[~same]
    results["pairs"] = metrics.pair_metrics(positive, negative)
    results["open_set"] = open_set_metrics(emb, labels, seed=config.seed)
    results["triplets"] = metrics.triplet_metrics(emb, metrics.sample_triplets(labels, config.triplets, config.seed))
    results["overfitting"] = _overfitting(run, evalset, emb, splits_file)
    results["robustness"] = _robustness(run, evalset, emb)
    results["plots"] = _plots(run, evalset, emb, positive, negative, results) if config.plots else []
    results["warnings"] = run.warnings
    results["cache"] = {"hits": run.cache_hits, "misses": run.cache_misses}
    results["seconds"] = round(time.perf_counter() - start, 2)
    write_json_atomic(config.output_dir / "results.json", results)
    return results


def _overfitting(run: _Run, evalset: EvalSet, emb: np.ndarray, splits_file: Optional[Path]) -> dict:
    """Train vs evaluated-split Recall@1 on equally shaped samples (same identities x images per identity)."""
    config = run.config
    if config.split not in ("test", "val"):
        return {"skipped": f"the evaluated split ({config.split}) is not a held-out split"}
    if splits_file is None:
        return {"skipped": "no splits.json, so the training images are unknown"}
    train = load_eval_set(config.data_dir, "train", splits_file)
    try:
        train_idx, eval_idx, k, m = metrics.matched_sample(train.labels, evalset.labels, config.overfit_images,
                                                           config.seed)
    except ValueError as exc:
        return {"skipped": str(exc)}
    sample = train.subset(train_idx)
    sample, train_emb = run.readable(sample, run.embed(sample))
    train_r1 = metrics.retrieval_metrics(train_emb, sample.labels)["recall@1"]
    eval_r1 = metrics.retrieval_metrics(emb[eval_idx], evalset.labels[eval_idx])["recall@1"]
    return {
        "identities": k,
        "images_per_identity": m,
        "train_recall@1": train_r1,
        "eval_recall@1": eval_r1,
        "gap": train_r1 - eval_r1,
    }


def _robustness(run: _Run, evalset: EvalSet, emb: np.ndarray) -> dict:
    """Each probe degrades up to ``robustness_images`` query images; the gallery stays clean."""
    config = run.config
    if config.robustness_images == 0:
        return {"skipped": "--robustness-images 0"}
    labels = evalset.labels
    queries = np.flatnonzero(metrics.query_mask(labels))
    if len(queries) > config.robustness_images:
        rng = np.random.default_rng(config.seed)
        queries = np.sort(rng.choice(queries, config.robustness_images, replace=False))
    probe_set = evalset.subset(queries)

    def recall_at_1(vectors: np.ndarray) -> float:
        ranking = metrics.rank_gallery(vectors, labels[queries], emb, labels, exclude=queries, top=1)
        return float(np.mean(ranking.first_hit == 1))

    clean = recall_at_1(emb[queries])
    probes = {}
    for name, (_, parameters) in PROBES.items():
        degraded = run.embed(probe_set, name).vectors
        score = recall_at_1(degraded)
        probes[name] = {
            "parameters": parameters,
            "similarity_drop": float(np.mean(1.0 - np.einsum("ij,ij->i", emb[queries], degraded))),
            "recall@1": score,
            "recall@1_drop": clean - score,
        }
    return {"images": int(len(queries)), "applied_to": "model-input pixels (after the shared resize)",
            "clean_recall@1": clean, "probes": probes}


def _plots(run: _Run, evalset: EvalSet, emb: np.ndarray, positive: np.ndarray, negative: np.ndarray,
           results: dict) -> list[str]:
    out = run.config.output_dir
    labels, paths = evalset.labels, evalset.paths
    rng = np.random.default_rng(run.config.seed)
    candidates = np.flatnonzero(metrics.query_mask(labels))
    queries = np.sort(rng.choice(candidates, min(NEIGHBOUR_QUERIES, len(candidates)), replace=False))
    ranking = metrics.rank_gallery(emb[queries], labels[queries], emb, labels, exclude=queries, top=NEIGHBOURS)
    pair = results["pairs"]
    far, tar, _ = metrics.roc(positive, negative)
    points = {f"FAR {name}{'' if v['resolved'] else ' (too few negatives)'}": (v["achieved_far"], v["tar"])
              for name, v in pair["far"].items()}
    made = [
        plots.nearest_neighbours(out / "nearest_neighbors.png", [paths[q] for q in queries], labels[queries],
                                 [[paths[j] for j in row] for row in ranking.top], labels[ranking.top],
                                 ranking.top_similarity, ranking.top_correct, run.model.image_size),
        plots.similarity_histogram(out / "similarity_distribution.png", positive, negative,
                                   {"best balanced-accuracy threshold": pair["best_accuracy_threshold"],
                                    "FAR 1e-3 threshold": pair["far"]["1e-03"]["threshold"]}),
        plots.roc_curve(out / "roc_curve.png", far, tar, pair["roc_auc"], points, pair["negatives"]),
    ]
    if results["open_set"]["gallery_sizes"]:
        made.append(plots.det_curve(out / "det_curve.png", results["open_set"]))
    if "probes" in results["robustness"]:
        made.append(plots.robustness_bars(out / "robustness.png", results["robustness"]["probes"]))
    return [p.name for p in made]


def summary(results: dict) -> str:
    """A few lines for the terminal."""
    r, p, c, t = results["retrieval"], results["pairs"], results["clustering"], results["triplets"]
    m, d = results["model"], results["data"]
    lines = [
        f"{m['artifact']} ({m['runtime']}, {m['image_size']}x{m['image_size']}) on {d['split']}: "
        f"{d['images']} images, {d['identities']} identities, {d['query_images']} queries",
        f"retrieval  R@1 {r['recall@1']:.1%}  R@5 {r['recall@5']:.1%}  R@10 {r['recall@10']:.1%}  "
        f"MRR {r['mrr']:.3f}  NDCG@10 {r['ndcg@10']:.3f}",
        f"clustering NMI {c['nmi']:.3f}  ARI {c['ari']:.3f}  purity {c['purity']:.3f}",
        f"pairs      AUC {p['roc_auc']:.4f}  EER {p['eer']:.1%}  "
        + "  ".join(f"TAR@{k} {v['tar']:.1%}" for k, v in p["far"].items()),
        f"triplets   violations {t['violation_rate']:.1%}  margin {t['mean_margin']:.3f}",
    ]
    for size, s in results["open_set"]["by_size"].items():
        lines.append(f"open-set   {size} pets: rank-1 {s['rank1']:.1%}  rank-5 {s['rank5']:.1%}  "
                     + "  ".join(f"FNIR@FPIR {k} {v['fnir']:.1%}{'' if v['resolved'] else ' (unresolved)'}"
                                 for k, v in s["fnir_at_fpir"].items()))
    if results["open_set"]["skipped_sizes"]:
        lines.append(f"open-set   galleries of {', '.join(map(str, results['open_set']['skipped_sizes']))} pets "
                     "do not fit this split")
    o = results["overfitting"]
    if "skipped" not in o:
        lines.append(f"overfit    train R@1 {o['train_recall@1']:.1%} vs {d['split']} R@1 {o['eval_recall@1']:.1%} "
                     f"({o['identities']} identities x {o['images_per_identity']} images each)")
    return "\n".join(lines)
