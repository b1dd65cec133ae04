"""``petface-export``: one command, every artifact, a results table (exit 0 only when all passed or can't run here)."""

from __future__ import annotations

from typing import Optional, Sequence

from petface_edge._cli import ArgumentParser, fail, positive_int
from petface_edge.errors import PetfaceError
from petface_edge.runtime.manifest import NOT_VERIFIABLE, PASSED

from .exporter import DEFAULT_VERIFY_IMAGES, export_model
from .formats import FORMATS, OPTIONAL


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = ArgumentParser(prog="petface-export", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="pet_embedder.pt written by petface-train")
    parser.add_argument("--output-dir", required=True, help="where artifacts, manifest.json and report.md go")
    parser.add_argument("--formats", nargs="+", choices=list(FORMATS), metavar="FORMAT",
                        help=f"any of {', '.join(FORMATS)} (default: all; {', '.join(OPTIONAL)} only where its "
                             "extra is installed)")
    parser.add_argument("--fp16", action="store_true", help="also build FP16 variants")
    parser.add_argument("--int8", action="store_true", help="also build INT8 variants (calibrated)")
    parser.add_argument("--image-size", type=positive_int, help="input side; must match the checkpoint")
    parser.add_argument("--data-dir", help="dataset root: parity on its test split, thresholds on val, "
                                           "calibration on train (needs --splits)")
    parser.add_argument("--splits", help="the training run's splits.json")
    parser.add_argument("--verify-images", type=positive_int, default=DEFAULT_VERIFY_IMAGES,
                        help=f"held-out images for parity (default {DEFAULT_VERIFY_IMAGES})")
    parser.add_argument("--calibration", help="calibration file from petface-calibrate (default: build one)")
    parser.add_argument("--qat-epochs", type=positive_int, default=0, metavar="N",
                        help="with --int8: first fine-tune N epochs with fake-quant (PT2E QAT, distilled to the FP32 "
                             "model on the train split; needs --data-dir/--splits) and build every INT8 artifact "
                             "from it")
    args = parser.parse_args(argv)
    try:
        manifest = export_model(args.checkpoint, args.output_dir, formats=args.formats, fp16=args.fp16,
                                int8=args.int8, image_size=args.image_size, data_dir=args.data_dir,
                                splits=args.splits, verify_images=args.verify_images, calibration=args.calibration,
                                qat_epochs=args.qat_epochs)
    except PetfaceError as exc:
        fail(parser.prog, str(exc))
    bad = [a for a in manifest.artifacts if a.status not in (PASSED, NOT_VERIFIABLE)]
    width = max(len(a.id) for a in manifest.artifacts)
    for a in manifest.artifacts:
        print(f"{a.id:<{width}}  {a.status:<20} {a.bytes / 1e6:6.2f} MB  {a.error}".rstrip())
    print(f"manifest: {manifest.directory / 'manifest.json'}\nreport:   {manifest.directory / 'report.md'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
