"""``petface-export``: one command, every artifact, a results table (exit 0 only when all passed or can't run here).

``petface-verify`` (:func:`verify_main`) re-checks an existing export without converting anything.
"""

from __future__ import annotations

from typing import Optional, Sequence

from petface_edge._cli import ArgumentParser, fail, positive_int
from petface_edge.errors import PetfaceError
from petface_edge.runtime.manifest import NOT_VERIFIABLE, PASSED, Manifest

from .datasource import SYNTHETIC
from .exporter import DEFAULT_VERIFY_IMAGES, export_model
from .formats import FORMATS, OPTIONAL
from .reverify import reverify


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
                                           "calibration on train (needs --splits; default: the training run's "
                                           "own data, from config.json and splits.json beside the checkpoint)")
    parser.add_argument("--splits", help="the training run's splits.json")
    parser.add_argument("--data", choices=[SYNTHETIC],
                        help="'synthetic': procedural pets instead of your data (only when asked: INT8 calibration, "
                             "parity and thresholds then rest on cartoon pets)")
    parser.add_argument("--verify-images", type=positive_int, default=DEFAULT_VERIFY_IMAGES,
                        help=f"most test-split images for parity (default {DEFAULT_VERIFY_IMAGES}; fewer: a draw "
                             "stratified over its pets)")
    parser.add_argument("--calibration", help="calibration file from petface-calibrate (default: build one)")
    parser.add_argument("--qat-epochs", type=positive_int, default=0, metavar="N",
                        help="with --int8: first fine-tune N epochs with fake-quant (PT2E QAT, distilled to the FP32 "
                             "model on the training run's train split) and build every INT8 artifact "
                             "from it")
    args = parser.parse_args(argv)
    try:
        manifest = export_model(args.checkpoint, args.output_dir, formats=args.formats, fp16=args.fp16,
                                int8=args.int8, image_size=args.image_size, data_dir=args.data_dir,
                                splits=args.splits, verify_images=args.verify_images, calibration=args.calibration,
                                data=args.data, qat_epochs=args.qat_epochs)
    except PetfaceError as exc:
        fail(parser.prog, str(exc))
    return _summary(manifest)


def _summary(manifest: Manifest) -> int:
    """Print one line per artifact; exit status 0 when every artifact passed or cannot run here, else 1."""
    bad = [a for a in manifest.artifacts if a.status not in (PASSED, NOT_VERIFIABLE)]
    width = max((len(a.id) for a in manifest.artifacts), default=0)
    for a in manifest.artifacts:
        print(f"{a.id:<{width}}  {a.status:<20} {a.bytes / 1e6:6.2f} MB  {a.error}".rstrip())
    print(f"manifest: {manifest.directory / 'manifest.json'}\nreport:   {manifest.directory / 'report.md'}")
    return 1 if bad else 0


def verify_main(argv: Optional[Sequence[str]] = None) -> int:
    """``petface-verify EXPORT_DIR``: re-run the parity check of an export's artifacts (no re-conversion)."""
    parser = ArgumentParser(prog="petface-verify", description=verify_main.__doc__.split(": ", 1)[1])
    parser.add_argument("export_dir", metavar="EXPORT_DIR", help="a petface-export output directory")
    parser.add_argument("--checkpoint", help="the checkpoint it was exported from (default: the path the manifest "
                                             "records); its sha256 must match")
    parser.add_argument("--data-dir", help="the dataset root, when it moved since the export (needs --splits)")
    parser.add_argument("--splits", help="the training run's splits.json, when it moved since the export")
    parser.add_argument("--data", choices=[SYNTHETIC], help="re-verify on synthetic pets")
    parser.add_argument("--verify-images", type=positive_int,
                        help="most test-split images for parity (default: as many as the export used)")
    args = parser.parse_args(argv)
    try:
        manifest = reverify(args.export_dir, args.checkpoint, args.data, args.data_dir, args.splits,
                            args.verify_images)
    except PetfaceError as exc:
        fail(parser.prog, str(exc))
    return _summary(manifest)


if __name__ == "__main__":
    raise SystemExit(main())
