"""Embedding networks (``EmbedderNet``), a small registry, checkpoints and summaries (needs the ``train`` extra).

    >>> from petface_edge.models import create_embedder
    >>> model = create_embedder("mobilefacenet", image_size=112)
"""

from __future__ import annotations

from typing import Callable

from .arcface import ArcFaceHead, TrainingModel
from .base import EmbedderNet, l2_normalize
from .checkpoint import CheckpointError, load_embedder, save_embedder
from .mobilefacenet import MobileFaceNet
from .mobilenetv3 import MobileNetV3SmallEmbedder
from .summary import count_macs, count_parameters, summary_table

_REGISTRY: dict[str, Callable[..., EmbedderNet]] = {
    MobileFaceNet.name: MobileFaceNet,
    MobileNetV3SmallEmbedder.name: MobileNetV3SmallEmbedder,
}
# The recommended edge model: MobileFaceNet at 112 (the design document's fix for its 224 CPU latency).
DEFAULT_IMAGE_SIZE = {MobileFaceNet.name: 112, MobileNetV3SmallEmbedder.name: 224}


def list_embedders() -> list[str]:
    return sorted(_REGISTRY)


def create_embedder(name: str, image_size: int | None = None, embedding_dim: int = 128, **kwargs) -> EmbedderNet:
    """Build an embedder by registry name; ``image_size`` defaults to the architecture's native size."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(list_embedders())}")
    size = image_size or DEFAULT_IMAGE_SIZE[name]
    return _REGISTRY[name](image_size=size, embedding_dim=embedding_dim, **kwargs)


__all__ = [
    "ArcFaceHead",
    "CheckpointError",
    "DEFAULT_IMAGE_SIZE",
    "EmbedderNet",
    "TrainingModel",
    "count_macs",
    "count_parameters",
    "create_embedder",
    "l2_normalize",
    "list_embedders",
    "load_embedder",
    "save_embedder",
    "summary_table",
]
