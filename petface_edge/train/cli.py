"""``petface-train``: train a pet-face embedder on one folder per pet.

Settings come from, lowest to highest: the defaults, the saved ``config.json`` of the run
being resumed, ``--config FILE`` (JSON or YAML, keys are flag names), the flags themselves.
Multi-GPU (or multi-process CPU): ``torchrun --nproc_per_node=N -m petface_edge.train ...``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Optional, Sequence

from .._cli import ArgumentParser, fail
from ..data import SPLIT_MODES
from ..errors import PetfaceError
from .config import BACKBONES, DEVICES, LOSSES, TRIPLET_MINING, ConfigError, TrainConfig, load_config_file

PROG = "petface-train"


def build_parser() -> ArgumentParser:
    # SUPPRESS: only flags actually given reach the namespace, so they can override the config file.
    p = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0], argument_default=argparse.SUPPRESS)
    p.add_argument("--config", type=Path, help="JSON or YAML settings file; its keys are the flag names")
    p.add_argument("--data-dir", type=Path, help="one sub-folder of images per pet")
    p.add_argument("--output-dir", type=Path, help="where the run's files go")
    p.add_argument("--backbone", choices=BACKBONES, help="embedder architecture (default mobilefacenet)")
    p.add_argument("--image-size", type=int, help="input side in pixels (default: 112 MobileFaceNet, 224 MobileNetV3)")
    p.add_argument("--epochs", type=int, help="default: 60 MobileFaceNet, 40 MobileNetV3")
    p.add_argument("--batch-size", type=int, help="global batch, divided among torchrun processes (default 96)")
    p.add_argument("--lr", type=float, help="head learning rate (default: 1e-3 MobileFaceNet, 5e-4 MobileNetV3)")
    p.add_argument("--backbone-lr-mult", type=float,
                   help="backbone LR = lr x this (default 0.1 from pretrained or --init-from weights, else 1.0)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 5e-4)")
    p.add_argument("--warmup-epochs", type=float, help="linear LR warm-up (default min(5, epochs/8))")
    p.add_argument("--min-lr", type=float, help="where the cosine schedule ends (default 1e-6)")
    p.add_argument("--loss", choices=LOSSES, help="arcface (default) or triplet (online mining on P x K batches)")
    p.add_argument("--arcface-scale", type=float, help="default 32")
    p.add_argument("--arcface-margin", type=float, help="final additive angular margin (default 0.4)")
    p.add_argument("--margin-warmup-fraction", type=float,
                   help="share of training over which the margin rises from 0 (default 1/3)")
    p.add_argument("--label-smoothing", type=float, help="default 0.1")
    p.add_argument("--grad-clip", type=float, help="max gradient norm; 0 turns clipping off (default 1.0)")
    p.add_argument("--triplet-mining", choices=TRIPLET_MINING, help="default semihard")
    p.add_argument("--triplet-margin", type=float, help="on Euclidean distance between unit vectors (default 0.3)")
    p.add_argument("--triplet-k", type=int, help="images per identity in a triplet batch (default 4)")
    p.add_argument("--gor-weight", type=float, help="global orthogonal regularization weight (default 0: off)")
    p.add_argument("--freeze-backbone-epochs", type=int, help="train only the head for the first N epochs")
    p.add_argument("--pretrained-weights", type=Path,
                   help="local ImageNet weights for mobilenetv3_small_100 (.pth/.safetensors)")
    p.add_argument("--init-from", type=Path, help="fine-tune from an earlier pet_embedder.pt")
    p.add_argument("--split-mode", choices=SPLIT_MODES,
                   help="identity: 80/10/10 of the pets (open set, default); image: of each pet's photos (closed set)")
    p.add_argument("--seed", type=int, help="splits, initialization, augmentation (default 42)")
    p.add_argument("--val-every", type=int, help="validate every N epochs and at the last (default 3)")
    p.add_argument("--val-pairs", type=int, help="verification pairs, half positive (default 5000)")
    p.add_argument("--precise-bn-images", type=int,
                   help="training images that re-estimate BatchNorm statistics before validation (default 1024, 0: off)")
    p.add_argument("--device", choices=DEVICES, help="default: cuda when available")
    p.add_argument("--workers", type=int, help="data-loading processes (default 0: in the training process)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   help="progress bar on a terminal, log lines otherwise (default on)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir from last_checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="replace a finished or abandoned run in --output-dir")
    p.add_argument("--stop-after", type=int,
                   help="stop after this epoch (a time-boxed job); continue later with --resume")
    return p


def settings(argv: Optional[Sequence[str]] = None) -> TrainConfig:
    """The run's settings from defaults, resumed run, config file and flags (highest wins)."""
    flags = vars(build_parser().parse_args(argv))
    file_path = flags.pop("config", None)
    from_file = {k.replace("-", "_"): v for k, v in load_config_file(file_path).items()} if file_path else {}
    chosen = {**from_file, **flags}
    saved: dict = {}
    if chosen.get("resume") and chosen.get("output_dir"):
        saved_path = Path(chosen["output_dir"]) / "config.json"
        if saved_path.is_file():
            try:
                saved = json.loads(saved_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"{saved_path}: not readable ({exc.__class__.__name__})") from None
    merged = {**saved, **chosen}
    if "data_dir" not in merged or "output_dir" not in merged:
        raise ConfigError("--data-dir and --output-dir are required (as flags or in --config)")
    return TrainConfig.from_mapping(merged, source=str(file_path or "arguments")).resolved()


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .trainer import train

    quiet = os.environ.get("RANK", "0") != "0"  # under torchrun one process reports the error
    try:
        train(settings(argv))
    except PetfaceError as exc:
        if quiet:
            raise SystemExit(2) from None
        fail(PROG, str(exc))
    except KeyboardInterrupt:
        if quiet:
            raise SystemExit(130) from None
        fail(PROG, "interrupted; the last finished epoch is in last_checkpoint.pt: continue with --resume", 130)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
