"""What every petface embedder shares: pixels in, unit vectors out.

An embedder takes RGB pixels as float 0..255 (NCHW) and returns L2-normalized
embeddings. ImageNet normalization is the first op of the graph and L2
normalization the last, so every exported artifact carries the whole contract.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise L2 normalization from primitive ops.

    ``F.normalize`` exports to ReduceL2/Clip/Expand, which breaks onnxruntime's
    quantization pre-processing and onnx2tf; mul/sum/rsqrt exports to plain ops.
    """
    return x * torch.rsqrt((x * x).sum(dim=1, keepdim=True) + eps)


class EmbedderNet(nn.Module):
    """Base class: normalizes pixels, runs :meth:`embed_features`, L2-normalizes.

    Subclasses implement ``embed_features(x) -> (N, embedding_dim)`` on normalized input.
    ``config`` holds the constructor arguments, so a checkpoint can rebuild the model.
    """

    name: str = ""

    def __init__(self, image_size: int, embedding_dim: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.embedding_dim = embedding_dim
        self.config: dict = {}
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
        inv_std = 1.0 / (torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_inv_std", inv_std, persistent=False)

    def embed_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - self.pixel_mean) * self.pixel_inv_std
        return l2_normalize(self.embed_features(x).flatten(1))


class GDConv(nn.Sequential):
    """Global depthwise convolution: a learned, position-aware replacement for global pooling."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, kernel, groups=channels, bias=False),
            nn.BatchNorm2d(channels),
        )
