"""The evaluation figures: nearest neighbours, similarity histogram, ROC, open-set DET, robustness.

Built on ``matplotlib.figure.Figure`` directly (the Agg canvas, no pyplot state), so
plotting works headless and in threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..imaging import ImageError, preprocess

CORRECT, WRONG = "#1a9850", "#d73027"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def nearest_neighbours(path: Path, query_images: Sequence[Path], query_labels: Sequence[str],
                       neighbour_images: Sequence[Sequence[Path]], neighbour_labels: np.ndarray,
                       neighbour_scores: np.ndarray, neighbour_correct: np.ndarray, image_size: int) -> Path:
    """One row per query: the query, then its top neighbours framed green (same pet) or red.

    The grid is composed as one mosaic image (a single ``imshow``): one axes per tile is ~10x slower.
    """
    rows, cols = len(query_images), 1 + neighbour_scores.shape[1]
    frame, gap, caption = max(3, image_size // 20), max(4, image_size // 14), max(24, image_size // 3)
    cell_w, cell_h = image_size + 2 * frame + gap, image_size + 2 * frame + caption
    mosaic = np.full((rows * cell_h, cols * cell_w, 3), 255, np.uint8)
    colours = {True: _rgb(CORRECT), False: _rgb(WRONG)}
    texts = []
    for r in range(rows):
        tiles = [(query_images[r], None, f"query\n{query_labels[r]}")]
        tiles += [(neighbour_images[r][c], bool(neighbour_correct[r, c]),
                   f"#{c + 1}  {neighbour_scores[r, c]:.3f}\n{neighbour_labels[r, c]}") for c in range(cols - 1)]
        for c, (image, correct, text) in enumerate(tiles):
            top, left = r * cell_h + caption, c * cell_w
            if correct is not None:
                mosaic[top:top + image_size + 2 * frame, left:left + image_size + 2 * frame] = colours[correct]
            try:
                pixels = preprocess(image, image_size)
            except ImageError:
                pixels = np.full((image_size, image_size, 3), 200, np.uint8)
            mosaic[top + frame:top + frame + image_size, left + frame:left + frame + image_size] = pixels
            colour = "black" if correct is None else (CORRECT if correct else WRONG)
            texts.append((left + frame + image_size / 2, top - 2, text, colour))
    scale = 1.6 / cell_w  # inches per mosaic pixel: 1.6 inch per column
    fig = _figure(mosaic.shape[1] * scale, mosaic.shape[0] * scale + 0.4)
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    for x, y, text, colour in texts:
        ax.text(x, y, text, ha="center", va="bottom", fontsize=7, color=colour)
    ax.set_axis_off()
    fig.suptitle("Nearest neighbours (cosine): green = same pet, red = different pet", fontsize=10)
    fig.savefig(path)
    return path


def _rgb(hex_colour: str) -> tuple:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def similarity_histogram(path: Path, positive: np.ndarray, negative: np.ndarray, thresholds: dict) -> Path:
    """Same-pet vs different-pet pair similarities, with the decision thresholds drawn in."""
    fig = _figure(7, 4)
    ax = fig.subplots()
    bins = np.linspace(min(positive.min(), negative.min()), max(positive.max(), negative.max()), 61)
    ax.hist(negative, bins=bins, density=True, alpha=0.55, color=WRONG, label=f"different pet ({len(negative):,})")
    ax.hist(positive, bins=bins, density=True, alpha=0.55, color=CORRECT, label=f"same pet ({len(positive):,})")
    for (name, value), style in zip(thresholds.items(), ("-", "--", ":", "-.")):
        ax.axvline(value, color="black", linestyle=style, linewidth=1.2, label=f"{name} = {value:.3f}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.set_title("Pair similarity distribution")
    ax.legend(fontsize=8)
    fig.savefig(path)
    return path


def roc_curve(path: Path, far: np.ndarray, tar: np.ndarray, auc: float, points: dict, negatives: int) -> Path:
    """TAR against FAR on a log axis (the low-FAR end is where verification is judged).

    FAR = 0 cannot sit on a log axis: it is drawn at the left edge, min(1e-4, 1 / negatives).
    """
    fig = _figure(6, 4.5)
    ax = fig.subplots()
    floor = min(1e-4, 1.0 / negatives)
    ax.step(np.maximum(far, floor), tar, where="post", color="#2c7bb6", label=f"ROC (AUC = {auc:.4f})")
    chance = np.logspace(np.log10(floor), 0, 50)
    ax.plot(chance, chance, ":", color="grey", label="chance")
    for name, (x, y) in points.items():
        ax.plot(max(x, floor), y, "o", markersize=5, label=f"{name}: TAR {y:.1%}")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate")
    ax.set_title("ROC, pair verification")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path)
    return path


def det_curve(path: Path, open_set: dict) -> Path:
    """FNIR against FPIR on log axes, one curve per gallery size (FRVT's open-set DET)."""
    fig = _figure(6, 4.5)
    ax = fig.subplots()
    floor = 1e-4
    for size, s in open_set["by_size"].items():
        fpir, fnir = np.asarray(s["det"]["fpir"]), np.asarray(s["det"]["fnir"])
        floor = min(floor, 1.0 / max(s["stranger_queries"], 1))
        ax.step(np.maximum(fpir, floor), np.maximum(fnir, 1e-4), where="post",
                label=f"{size} pets ({s['templates']} templates), rank-1 {s['rank1']:.1%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(1e-4, 1.0)
    ax.set_xlabel("FPIR: strangers accepted as an enrolled pet (log)")
    ax.set_ylabel("FNIR: enrolled pets missed at rank 1 (log)")
    ax.set_title(f"DET, open-set identification ({open_set['enroll_images']} photos enrolled per pet)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.savefig(path)
    return path


def robustness_bars(path: Path, probes: dict) -> Path:
    """Similarity drop and Recall@1 drop for each probe."""
    names = list(probes)
    fig = _figure(10, 4)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(names))
    sim = [probes[n]["similarity_drop"] for n in names]
    rec = [100 * probes[n]["recall@1_drop"] for n in names]
    left.bar(x, sim, color="#2c7bb6")
    left.set_ylabel("1 - cos(clean, degraded)")
    left.set_title("Similarity drop")
    right.bar(x, rec, color="#fdae61")
    right.axhline(0, color="black", linewidth=0.8)
    right.set_ylabel("points")
    right.set_title("Recall@1 drop")
    for ax, values, fmt in ((left, sim, "{:.3f}"), (right, rec, "{:.1f}")):
        ax.set_xticks(x, [f"{n.replace('_', chr(10))}\n{probes[n]['parameters']}" for n in names], fontsize=7)
        for xi, v in zip(x, values):
            ax.annotate(fmt.format(v), (xi, v), ha="center", va="bottom" if v >= 0 else "top", fontsize=7)
    fig.savefig(path)
    return path
