"""``pet_embedder.pt``: embedder weights plus what export needs to rebuild it.

Saved as plain tensors and builtins so that loading uses ``torch.load(weights_only=True)``:
a checkpoint can never run pickled code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write
from ..errors import PetfaceError
from .base import IMAGENET_MEAN, IMAGENET_STD, EmbedderNet

FORMAT = "petface-embedder"
FORMAT_VERSION = 1


class CheckpointError(PetfaceError, ValueError):
    """The file is not a petface embedder checkpoint (or is from an unknown version)."""


def save_embedder(model: EmbedderNet, path: str | Path, **meta: Any) -> Path:
    """Write the embedder (eval weights, config, input contract) to ``path`` atomically."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "config": dict(model.config),
        "input": {
            "pixels": "RGB float 0..255, NCHW; ImageNet normalization and L2 normalization inside the model",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
        "meta": meta,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    return save_tagged(payload, path)


def save_tagged(payload: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` a dict of tensors and builtins atomically: a crash mid-save leaves the old file intact."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save(payload, f)
    return path


def load_tagged(path: str | Path, fmt: str, version: int, error: type[Exception], expected: str) -> dict:
    """A dict written with ``"format": fmt``, loaded with ``weights_only=True`` (it can never run code).

    Raises ``error`` naming the file when it is missing, unreadable, not ``expected`` (words for
    the message), or written by a newer format version than ``version``.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or corrupt files
        raise error(f"{path}: not a readable PyTorch checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise error(f"{path}: not a {expected}")
    if payload.get("format_version", 0) > version:
        raise error(f"{path}: checkpoint format version {payload['format_version']} is newer than this "
                    f"petface-edge supports ({version}); upgrade petface-edge")
    return payload


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate the raw checkpoint dictionary (no model built)."""
    return load_tagged(path, FORMAT, FORMAT_VERSION, CheckpointError,
                       f"petface embedder checkpoint (expected a '{FORMAT}' file such as pet_embedder.pt "
                       "written by petface-train)")


def load_embedder(path: str | Path) -> EmbedderNet:
    """Rebuild the embedder in eval mode from ``pet_embedder.pt``."""
    from . import create_embedder

    payload = read_checkpoint(path)
    config = dict(payload["config"])
    model = create_embedder(payload["model"], **config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match {payload['model']} {config}: {exc}") from None
    return model.eval()
