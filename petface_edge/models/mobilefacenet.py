"""MobileFaceNet (Chen et al., 2018): the paper's layout with PReLU, at any input size.

At 112x112 the GDConv kernel is 7x7 (1.00 M parameters, 221 M MACs); at 224x224 it is 14x14.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import EmbedderNet, GDConv

# (expansion t, output channels c, repeats n, first stride s), from the paper's Table 1.
BOTTLENECKS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, linear 1x1 project; residual when shapes match."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            conv_bn(cin, hidden),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            conv_bn(hidden, cout, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileFaceNet(EmbedderNet):
    name = "mobilefacenet"

    def __init__(self, image_size: int = 112, embedding_dim: int = 128, dropout: float = 0.0) -> None:
        super().__init__(image_size, embedding_dim)
        if image_size % 16:
            raise ValueError(f"MobileFaceNet needs an image size divisible by 16, got {image_size}")
        self.config = {"image_size": image_size, "embedding_dim": embedding_dim, "dropout": dropout}
        layers: list[nn.Module] = [conv_bn(3, 64, 3, 2), conv_bn(64, 64, 3, groups=64)]
        cin = 64
        for t, c, n, s in BOTTLENECKS:
            for i in range(n):
                layers.append(Bottleneck(cin, c, t, s if i == 0 else 1))
                cin = c
        layers.append(conv_bn(cin, 512))
        self.features = nn.Sequential(*layers)
        self.gdconv = GDConv(512, image_size // 16)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Conv2d(512, embedding_dim, 1, bias=False)
        self.bn = nn.BatchNorm2d(embedding_dim)

    def embed_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gdconv(self.features(x))
        return self.bn(self.projection(self.dropout(x)))
