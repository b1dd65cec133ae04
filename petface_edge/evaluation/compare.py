"""``petface-compare``: side-by-side markdown table of several ``petface-eval`` runs, with deltas.

The first model is the baseline; every other column is followed by its difference to
it. Percentages differ in points. The best value of each row is in bold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

from .._cli import ArgumentParser, fail
from ..atomic import write_text_atomic
from ..errors import PetfaceError
from .degradations import PROBES
from .openset import GALLERY_SIZES
from .suite import SCHEMA

PROG = "petface-compare"

# (label, path into results.json, kind, better): kind "pct" prints 12.3% and deltas in points;
# better is "high", "low" or None (no winner, e.g. a threshold).
Row = tuple[str, tuple[str, ...], str, Optional[str]]

SECTIONS: list[tuple[str, list[Row]]] = [
    ("Retrieval (leave-one-out)", [
        ("Recall@1", ("retrieval", "recall@1"), "pct", "high"),
        ("Recall@5", ("retrieval", "recall@5"), "pct", "high"),
        ("Recall@10", ("retrieval", "recall@10"), "pct", "high"),
        ("MRR", ("retrieval", "mrr"), "f3", "high"),
        ("NDCG@10", ("retrieval", "ndcg@10"), "f3", "high"),
    ]),
    ("Clustering (KMeans, k = identities)", [
        ("NMI", ("clustering", "nmi"), "f3", "high"),
        ("ARI", ("clustering", "ari"), "f3", "high"),
        ("Purity", ("clustering", "purity"), "f3", "high"),
    ]),
    ("Pair ranking", [
        ("ROC-AUC", ("pairs", "roc_auc"), "f4", "high"),
        ("EER", ("pairs", "eer"), "pct", "low"),
        *[(f"TAR @ FAR {far}", ("pairs", "far", far, "tar"), "pct", "high") for far in ("1e-02", "1e-03", "1e-04")],
        *[(f"threshold @ FAR {far}", ("pairs", "far", far, "threshold"), "f3", None)
          for far in ("1e-02", "1e-03", "1e-04")],
        ("Best accuracy", ("pairs", "best_accuracy"), "pct", "high"),
        ("Best-accuracy threshold", ("pairs", "best_accuracy_threshold"), "f3", None),
    ]),
    ("Open-set identification (FRVT: FNIR at fixed FPIR, 2 photos enrolled per pet)", [
        *[(f"{pets} pets: {label}", ("open_set", "by_size", str(pets), *path), kind, better)
          for pets in GALLERY_SIZES
          for label, path, kind, better in (
              ("rank-1", ("rank1",), "pct", "high"), ("rank-5", ("rank5",), "pct", "high"),
              *[(f"FNIR @ FPIR {k}", ("fnir_at_fpir", k, "fnir"), "pct", "low") for k in ("1e-1", "1e-2", "1e-3")])],
    ]),
    ("Triplets", [
        ("Violation rate", ("triplets", "violation_rate"), "pct", "low"),
        ("Mean margin", ("triplets", "mean_margin"), "f3", "high"),
    ]),
    ("Overfitting (equal identities x images per identity)", [
        ("Train Recall@1", ("overfitting", "train_recall@1"), "pct", None),
        ("Eval-split Recall@1", ("overfitting", "eval_recall@1"), "pct", None),
        ("Gap (train - eval)", ("overfitting", "gap"), "pct", None),
    ]),
    ("Robustness: similarity drop (1 - cos)", [
        (f"{name} ({params})", ("robustness", "probes", name, "similarity_drop"), "f3", "low")
        for name, (_, params) in PROBES.items()
    ]),
    ("Robustness: Recall@1 drop", [
        (f"{name} ({params})", ("robustness", "probes", name, "recall@1_drop"), "pct", "low")
        for name, (_, params) in PROBES.items()
    ]),
]


class CompareError(PetfaceError, ValueError):
    pass


def load_results(spec: str) -> tuple[str, dict]:
    """``NAME:EVAL_DIR`` (or ``NAME:results.json``) to (name, results)."""
    name, sep, where = spec.partition(":")
    if not sep or not name or not where:
        raise CompareError(f"{spec!r}: expected NAME:EVAL_DIR, e.g. MFN-112:eval_mfn")
    path = Path(where)
    path = path / "results.json" if path.is_dir() else path
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise CompareError(f"{path}: no results.json (run petface-eval --output-dir {where} first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        raise CompareError(f"{path}: not a petface-eval results.json")
    return name, results


def _get(results: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results


def _fmt(value, kind: str) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if kind == "pct" else f"{value:.{kind[1]}f}"


def _delta(value, base, kind: str) -> str:
    if value is None or base is None:
        return "-"
    if kind == "pct":
        return f"{round(100 * (value - base), 1) + 0.0:+.1f} pts"  # + 0.0 turns -0.0 into 0.0
    return f"{round(value - base, int(kind[1])) + 0.0:+.{kind[1]}f}"


def comparison_table(runs: Sequence[tuple[str, dict]]) -> str:
    """The markdown document: what was compared, then one table per section."""
    names = [n for n, _ in runs]
    base_name = names[0]
    out = ["# Model comparison", ""]
    out += ["| Model | Artifact | Runtime | Input | File size | Split | Images | Identities | TTA |",
            "|---|---|---|---|---:|---|---:|---:|---|"]
    for name, r in runs:
        m, d = r["model"], r["data"]
        out.append(f"| {name} | {m.get('artifact')} | {m.get('runtime')} | {m.get('image_size')}x{m.get('image_size')} "
                   f"| {m.get('bytes', 0) / 1e6:.2f} MB | {d['split']} | {d['images']:,} | {d['identities']:,} "
                   f"| {'yes' if r['settings'].get('tta') else 'no'} |")
    image_sets = {r["data"].get("image_list_sha256") for _, r in runs}
    out.append("")
    if len(image_sets) > 1:
        out += ["> **Note:** the models were evaluated on different image sets; deltas mix model and data.", ""]
    out.append(f"Deltas are against **{base_name}**; percentages differ in points. Bold: best in the row.")
    header = "| Metric | " + " | ".join(f"{n} | Δ vs {base_name}" if i else n for i, n in enumerate(names)) + " |"
    align = "|---|" + "|".join("---:|---:" if i else "---:" for i in range(len(names))) + "|"
    for title, rows in SECTIONS:
        lines = []
        for label, path, kind, better in rows:
            values = [_get(r, path) for _, r in runs]
            if all(v is None for v in values):
                continue
            present = [v for v in values if v is not None]
            best = (max if better == "high" else min)(present) if better and len(present) > 1 else None
            cells = []
            for i, v in enumerate(values):
                text = _fmt(v, kind)
                cells.append(f"**{text}**" if best is not None and v == best else text)
                if i:
                    cells.append(_delta(v, values[0], kind))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if lines:
            out += ["", f"## {title}", "", header, align, *lines]
    return "\n".join(out) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = ArgumentParser(prog=PROG, description="Compare petface-eval runs side by side (markdown, with deltas "
                                                   "against the first).")
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME:EVAL_DIR",
                        help="evaluation output directories (or their results.json), baseline first")
    parser.add_argument("--output", type=Path, help="write the markdown here instead of printing it")
    args = parser.parse_args(argv)
    try:
        runs = [load_results(spec) for spec in args.models]
    except PetfaceError as exc:
        fail(PROG, str(exc))
    names = [n for n, _ in runs]
    if len(set(names)) != len(names):
        fail(PROG, f"model names must be unique, got {', '.join(names)}")
    table = comparison_table(runs)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.output, table)
        print(f"wrote {args.output}")
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
