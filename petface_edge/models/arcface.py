"""ArcFace head (additive angular margin) and the training wrapper. Never exported."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import EmbedderNet


class ArcFaceHead(nn.Module):
    """Logits ``s * cos(theta + m)`` for the target class, ``s * cos(theta)`` for the others.

    ``margin`` is a plain attribute so training can warm it up. Where ``theta + m``
    would pass pi, cos stops being monotonic; there the target logit falls back to
    ``cos(theta) - m * sin(m)`` (the insightface "easy margin off" rule), which keeps
    the penalty monotonic in theta.
    """

    def __init__(self, embedding_dim: int, num_classes: int, scale: float = 32.0, margin: float = 0.4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(embeddings.float()), F.normalize(self.weight.float())).clamp(-1.0, 1.0)
        m = self.margin
        sin = torch.sqrt((1.0 - cos * cos).clamp_min(1e-9))
        cos_margin = cos * math.cos(m) - sin * math.sin(m)
        # theta + m > pi  <=>  theta > pi - m  <=>  cos < cos(pi - m)
        cos_margin = torch.where(cos > math.cos(math.pi - m), cos_margin, cos - m * math.sin(m))
        one_hot = F.one_hot(labels, cos.shape[1]).bool()
        return self.scale * torch.where(one_hot, cos_margin, cos)


class TrainingModel(nn.Module):
    """An ``EmbedderNet`` plus ArcFace head; only ``embedder`` is saved for export."""

    def __init__(self, embedder: EmbedderNet, head: ArcFaceHead) -> None:
        super().__init__()
        self.embedder = embedder
        self.head = head

    def forward(self, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedder(pixels), labels)
