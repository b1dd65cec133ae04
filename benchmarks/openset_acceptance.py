"""Issue 14's acceptance check: identify with default settings on pets nobody trained or calibrated on.

A fresh synthetic set (a seed that neither training, 0, nor export, 1001/1002, used) is drawn
at the model's image size and embedded by the runtime ``Embedder`` (default artifact). For
galleries of 10, 30 and 100 pets (2 photos each, random pets, several rounds) every photo of
a pet not enrolled is a stranger query and every other photo of an enrolled pet a mated one;
each goes through ``Gallery.search`` with the default identify policy (FPIR 1e-2 at the
gallery's template count). Reported per size: the operating point, FPIR (strangers accepted),
FNIR (mated queries not accepted as their own pet) and closed-set rank-1. Passes when every
FPIR lies in [0, 2 x target].

    python -m benchmarks.openset_acceptance EXPORT_DIR [--seed 7777] [--work build/openset-acceptance]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from petface_edge import Embedder, Gallery
from petface_edge.atomic import write_json_atomic
from petface_edge.data import scan_identities
from petface_edge.synth import generate

SIZES = (10, 30, 100)
ENROLL = 2
IDENTITIES = 400
IMAGES_PER_IDENTITY = 6
ROUNDS = 3
MIN_STRANGERS = 1000


def measure(export: Path, work: Path, seed: int, identities: int = IDENTITIES, rounds: int = ROUNDS) -> dict:
    embedder = Embedder.open(export)
    data = work / f"synth-seed{seed}-{identities}x{IMAGES_PER_IDENTITY}-{embedder.image_size}px"
    if not (data / ".complete").exists():
        generate(data, identities, IMAGES_PER_IDENTITY, embedder.image_size, seed=seed, overwrite=True)
        (data / ".complete").write_text("")
    scan = scan_identities(data)
    names = sorted(scan)
    paths = [p for n in names for p in sorted(scan[n])]
    owners = np.array([n for n in names for _ in scan[n]])
    vectors = embedder.embed(paths)
    rng = np.random.default_rng(seed)
    rows = []
    for pets in SIZES:
        strangers = false_alarms = mated = misses = top1 = 0
        points = set()
        for _ in range(rounds):
            gallery = Gallery(embedder, search="exact")
            enrolled_rows = []
            for name in rng.choice(names, pets, replace=False):
                photos = rng.choice(np.flatnonzero(owners == name), ENROLL, replace=False)
                gallery.enroll_embeddings(str(name), vectors[photos])
                enrolled_rows += photos.tolist()
            queries = np.setdiff1d(np.arange(len(paths)), enrolled_rows)
            for q in queries:
                result = gallery.search(vectors[q], 1)
                points.add(result.operating_point)
                if owners[q] in gallery:
                    mated += 1
                    misses += result.best != owners[q]
                    top1 += result[0].name == owners[q]
                else:
                    strangers += 1
                    false_alarms += result.best is not None
        (point,) = points  # one operating point per size: same template count every round
        target = point.target
        rows.append({"pets": pets, "templates": point.gallery_size, "target_fpir": target,
                     "threshold": point.threshold, "stranger_queries": strangers, "false_alarms": false_alarms,
                     "fpir": false_alarms / strangers, "mated_queries": mated, "fnir": misses / mated,
                     "rank1": top1 / mated,
                     "passed": strangers >= MIN_STRANGERS and false_alarms / strangers <= 2 * target})
    return {"export": str(export), "artifact": embedder.artifact.id, "runtime": embedder.runtime, "seed": seed,
            "identities": identities, "images_per_identity": IMAGES_PER_IDENTITY, "rounds": rounds,
            "calibration": embedder.artifact.thresholds.get("calibration", {}), "sizes": rows,
            "passed": all(r["passed"] for r in rows)}


def table(result: dict) -> str:
    lines = [f"{result['artifact']} ({result['export']}), fresh synthetic seed {result['seed']}: "
             f"{result['identities']} pets x {result['images_per_identity']} photos, {result['rounds']} random "
             "galleries per size, default identify policy",
             "", "| pets (templates) | threshold | strangers | FPIR (target 1e-2, pass <= 2e-2) | FNIR | rank-1 |",
             "|---|---|---|---|---|---|"]
    for r in result["sizes"]:
        lines.append(f"| {r['pets']} ({r['templates']}) | {r['threshold']:.4f} | {r['stranger_queries']} | "
                     f"{r['fpir']:.4f} ({r['false_alarms']}) {'pass' if r['passed'] else 'FAIL'} | "
                     f"{r['fnir']:.4f} | {r['rank1']:.4f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path, help="petface-export output directory")
    parser.add_argument("--seed", type=int, default=7777, help="synthetic seed (not 0, 1001 or 1002)")
    parser.add_argument("--work", type=Path, default=Path("build/openset-acceptance"))
    parser.add_argument("--identities", type=int, default=IDENTITIES, help="fresh synthetic pets (6 photos each)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="random galleries per size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.seed in (0, 1001, 1002):
        parser.error(f"seed {args.seed} was seen by training or export; choose another")
    if args.identities < max(SIZES) + 10:
        parser.error(f"--identities must leave strangers beside a {max(SIZES)}-pet gallery: at least {max(SIZES) + 10}")
    result = measure(args.export, args.work, args.seed, args.identities, args.rounds)
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.json, result)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
