"""``petface-eval``: benchmark a checkpoint or any exported artifact on a dataset split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .._cli import ArgumentParser, fail, positive_int
from ..errors import PetfaceError

PROG = "petface-eval"


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Evaluate a pet_embedder.pt checkpoint or an exported artifact (.onnx, .tflite, .ptl, "
                    ".mlpackage, or a petface-export directory): retrieval, clustering, pair ranking (TAR at "
                    "FAR), triplets, overfitting, robustness; writes results.json and plots.",
    )
    parser.add_argument("--model", required=True, type=Path, help="checkpoint, artifact or export directory")
    parser.add_argument("--data-dir", required=True, type=Path, help="dataset folder, one sub-folder per identity")
    parser.add_argument("--output-dir", required=True, type=Path, help="where results.json, plots and the "
                        "embedding cache go")
    parser.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                        help="split of splits.json to evaluate; 'all' = every image of --data-dir (default test)")
    parser.add_argument("--splits", type=Path, help="splits.json written by petface-train "
                        "(default: the one beside --model)")
    parser.add_argument("--backend", default="auto", help="for an export directory: 'auto', a format "
                        "(onnx, tflite, torchscript, coreml) or an artifact id such as tflite-int8")
    parser.add_argument("--tta", action="store_true", help="average each embedding with its horizontal flip's")
    parser.add_argument("--max-images", type=positive_int, help="cap the split, drawn as whole identities")
    parser.add_argument("--seed", type=int, default=42, help="seed of every sample (default 42)")
    parser.add_argument("--threads", type=positive_int, help="inference threads")
    parser.add_argument("--image-size", type=positive_int, help="fail unless the model's input is this size")
    parser.add_argument("--pairs", type=positive_int, default=50_000, help="pairs for ranking (default 50000)")
    parser.add_argument("--triplets", type=positive_int, default=20_000, help="triplets (default 20000)")
    parser.add_argument("--robustness-images", type=non_negative_int, default=1_000,
                        help="images per robustness probe (default 1000; 0 skips the probes)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from .suite import EvalConfig, evaluate, summary

    config = EvalConfig(
        model=args.model, data_dir=args.data_dir, output_dir=args.output_dir, split=args.split, splits=args.splits,
        backend=args.backend, tta=args.tta, max_images=args.max_images, seed=args.seed, threads=args.threads,
        image_size=args.image_size, pairs=args.pairs, triplets=args.triplets,
        robustness_images=args.robustness_images, plots=not args.no_plots, progress=not args.no_progress,
    )
    if args.splits is not None and not args.splits.is_file():
        fail(PROG, f"{args.splits}: no such splits file")
    try:
        results = evaluate(config, warn=lambda message: print(f"{PROG}: warning: {message}", file=sys.stderr))
    except PetfaceError as exc:
        fail(PROG, str(exc))
    print(summary(results))
    print(f"wrote {args.output_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
