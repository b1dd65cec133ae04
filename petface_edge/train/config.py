"""``TrainConfig``: every knob of a training run, with the design document's defaults.

Field names are the command-line flag names (``--backbone-lr-mult`` is ``backbone_lr_mult``),
so a ``--config`` file, ``config.json`` in a run directory and the flags all speak one language.
Defaults that depend on the backbone (image size, epochs, LR, backbone LR multiplier, warm-up)
are ``None`` and resolved by :meth:`TrainConfig.resolved`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from ..data import SPLIT_MODES
from ..errors import PetfaceError

BACKBONES = ("mobilefacenet", "mobilenetv3_small_100")
LOSSES = ("arcface", "triplet")
TRIPLET_MINING = ("all", "hard", "semihard")
DEVICES = ("cpu", "cuda")
# The design document's per-backbone recipe: MobileFaceNet from scratch, MobileNetV3 from ImageNet.
DEFAULT_EPOCHS = {"mobilefacenet": 60, "mobilenetv3_small_100": 40}
DEFAULT_LR = {"mobilefacenet": 1e-3, "mobilenetv3_small_100": 5e-4}
MAX_WARMUP_EPOCHS = 5.0
# Fields a resumed run may change without altering what the finished model is.
RESUMABLE_CHANGES = ("data_dir", "output_dir", "epochs", "device", "workers", "progress", "resume", "overwrite", "stop_after")
# Actions, not settings of the run: left out of config.json.
ACTIONS = ("resume", "overwrite", "stop_after")


class ConfigError(PetfaceError, ValueError):
    """A setting that cannot work; the message names the setting."""


@dataclass
class TrainConfig:
    data_dir: Path
    output_dir: Path
    backbone: str = "mobilefacenet"
    image_size: Optional[int] = None  # None: the backbone's native size (112 / 224)
    epochs: Optional[int] = None  # None: 60 for MobileFaceNet, 40 for MobileNetV3
    batch_size: int = 96  # global: divided among torchrun processes
    lr: Optional[float] = None  # None: 1e-3 for MobileFaceNet, 5e-4 for MobileNetV3
    backbone_lr_mult: Optional[float] = None  # None: 0.1 when the backbone starts from weights, else 1.0
    weight_decay: float = 5e-4
    warmup_epochs: Optional[float] = None  # None: 5, scaled down to epochs / 8 for short runs
    min_lr: float = 1e-6
    loss: str = "arcface"
    arcface_scale: float = 32.0
    arcface_margin: float = 0.4
    margin_warmup_fraction: float = 1 / 3  # the margin rises 0 -> arcface_margin over this share of training
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    triplet_mining: str = "semihard"
    triplet_margin: float = 0.3  # on Euclidean distance between unit vectors (0..2)
    triplet_k: int = 4  # images per identity in a P x K batch
    gor_weight: float = 0.0  # global orthogonal regularization; 0 turns it off
    freeze_backbone_epochs: int = 0
    pretrained_weights: Optional[Path] = None  # ImageNet weights for mobilenetv3_small_100 (local file)
    init_from: Optional[Path] = None  # a pet_embedder.pt to fine-tune
    split_mode: str = "identity"
    seed: int = 42
    val_every: int = 3
    val_pairs: int = 5000
    precise_bn_images: int = 1024  # train images that re-estimate BatchNorm statistics before validation; 0: off
    device: Optional[str] = None  # None: cuda when available, else cpu
    workers: int = 0
    progress: bool = True
    resume: bool = False
    overwrite: bool = False
    stop_after: Optional[int] = None  # stop after this epoch (a time-boxed job); --resume continues

    def __post_init__(self) -> None:
        for name in ("data_dir", "output_dir", "pretrained_weights", "init_from"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                setattr(self, name, Path(value))

    def resolved(self) -> "TrainConfig":
        """A copy with backbone-dependent defaults filled in, checked for consistency."""
        c = dataclasses.replace(self)
        for f in fields(c):
            setattr(c, f.name, _coerce(f.name, getattr(c, f.name), f.type))
        _choice("backbone", c.backbone, BACKBONES)
        _choice("loss", c.loss, LOSSES)
        _choice("triplet_mining", c.triplet_mining, TRIPLET_MINING)
        _choice("split_mode", c.split_mode, SPLIT_MODES)
        if c.device is not None:
            _choice("device", c.device, DEVICES)
        from ..models import DEFAULT_IMAGE_SIZE

        if c.image_size is None:
            c.image_size = DEFAULT_IMAGE_SIZE[c.backbone]
        if c.epochs is None:
            c.epochs = DEFAULT_EPOCHS[c.backbone]
        if c.lr is None:
            c.lr = DEFAULT_LR[c.backbone]
        if c.backbone_lr_mult is None:
            c.backbone_lr_mult = 0.1 if (c.pretrained_weights or c.init_from) else 1.0
        if c.warmup_epochs is None:
            c.warmup_epochs = min(MAX_WARMUP_EPOCHS, c.epochs / 8)
        for name in ("image_size", "epochs", "batch_size", "val_every", "val_pairs", "triplet_k"):
            if getattr(c, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(c, name)}")
        if c.val_pairs < 2:
            raise ConfigError(f"val_pairs must be at least 2, got {c.val_pairs}")
        for name in ("lr", "backbone_lr_mult", "arcface_scale"):
            if getattr(c, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(c, name)}")
        for name in ("weight_decay", "warmup_epochs", "min_lr", "arcface_margin", "label_smoothing", "grad_clip",
                     "triplet_margin", "gor_weight", "freeze_backbone_epochs", "workers", "precise_bn_images"):
            if getattr(c, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(c, name)}")
        if not 0 <= c.margin_warmup_fraction <= 1:
            raise ConfigError(f"margin_warmup_fraction must be within 0..1, got {c.margin_warmup_fraction}")
        if c.freeze_backbone_epochs >= c.epochs:
            raise ConfigError(f"freeze_backbone_epochs ({c.freeze_backbone_epochs}) must be below epochs "
                              f"({c.epochs}): the backbone would never train")
        if c.stop_after is not None and not 1 <= c.stop_after <= c.epochs:
            raise ConfigError(f"stop_after must be within 1..epochs ({c.epochs}), got {c.stop_after}")
        if c.pretrained_weights and c.backbone != "mobilenetv3_small_100":
            raise ConfigError("pretrained_weights are ImageNet weights for mobilenetv3_small_100; "
                              "to start from a pet_embedder.pt use init_from")
        if c.pretrained_weights and c.init_from:
            raise ConfigError("give pretrained_weights or init_from, not both")
        if c.resume and c.overwrite:
            raise ConfigError("resume and overwrite exclude each other")
        return c

    def to_json(self) -> dict:
        """The run's settings (flag names, JSON types), without one-off actions such as resume."""
        out = {}
        for f in fields(self):
            if f.name in ACTIONS:
                continue
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Build from a dict whose keys are field or flag names (``batch-size`` or ``batch_size``)."""
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{source}: unknown setting {key!r}")
            kwargs[name] = value
        missing = [n for n in ("data_dir", "output_dir") if n not in kwargs]
        if missing:
            raise ConfigError(f"{source}: missing {', '.join(missing)}")
        return cls(**kwargs)


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """``value`` as the field's type: config files give strings (YAML reads ``1e-3`` as one)."""
    if value is None:
        if annotation.startswith("Optional["):
            return None
        raise ConfigError(f"{name} must be set")
    kind = annotation.removeprefix("Optional[").rstrip("]")
    try:
        if kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "Path":
            return Path(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {'a number' if kind == 'float' else 'an integer' if kind == 'int' else kind}, "
                          f"got {value!r}") from None


def _choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON or YAML file (keys: flag names), as a flat dict."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.__class__.__name__})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as exc:  # yaml and json raise their own error types
        raise ConfigError(f"{path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'} "
                          f"({str(exc).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (flag: value), got {type(values).__name__}")
    return values
