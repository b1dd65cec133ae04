"""``petface-calibrate``: build and store an INT8 calibration set once, for ``petface-export --int8 --calibration``."""

from __future__ import annotations

from typing import Optional, Sequence

from petface_edge._cli import ArgumentParser, fail, positive_int
from petface_edge.errors import PetfaceError

from .dataset import DEFAULT_COUNT, MIN_IMAGES, build


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = ArgumentParser(prog="petface-calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="calibration file to write (e.g. calib_112.zip)")
    parser.add_argument("--image-size", type=positive_int, default=112, help="model input side (default 112)")
    parser.add_argument("--data-dir", help="dataset root (one folder per identity); needs --splits")
    parser.add_argument("--splits", help="the training run's splits.json: images come from its train split only")
    parser.add_argument("--count", type=positive_int, default=DEFAULT_COUNT,
                        help=f"images, stratified across identities (default {DEFAULT_COUNT}, minimum {MIN_IMAGES})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.count < MIN_IMAGES:
        fail(parser.prog, f"--count {args.count} is below the minimum of {MIN_IMAGES} images")
    try:
        calib = build(args.image_size, args.data_dir, args.splits, args.count, args.seed)
        calib.check_compatible(args.image_size, name=args.output)
        path = calib.save(args.output)
    except PetfaceError as exc:
        fail(parser.prog, str(exc))
    print(f"wrote {len(calib)} images ({calib.image_size}px, {calib.origin['kind']}, "
          f"{len(set(calib.labels))} identities) to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
