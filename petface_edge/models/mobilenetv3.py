"""MobileNetV3-Small (timm) with a GDConv or MLP embedding head.

timm's ``mobilenetv3_small_100`` with ``num_classes=0, global_pool=""`` keeps its
1x1 ``conv_head`` (576 -> 1024) on the 7x7 map at 224; that is the layout the design
document measured (1,701,408 parameters with the GDConv head). ImageNet weights come
from a local file only: there is no model hub at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .base import EmbedderNet, GDConv


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load ImageNet weights for the timm backbone from a local .pth/.bin/.safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match timm mobilenetv3_small_100: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


class MobileNetV3SmallEmbedder(EmbedderNet):
    name = "mobilenetv3_small_100"

    def __init__(
        self,
        image_size: int = 224,
        embedding_dim: int = 128,
        head: str = "gdconv",
        dropout: float = 0.4,
        pretrained_weights: Optional[str] = None,
    ) -> None:
        super().__init__(image_size, embedding_dim)
        import timm  # training extra; imported here so the registry stays importable without it

        if image_size % 32:
            raise ValueError(f"MobileNetV3-Small needs an image size divisible by 32, got {image_size}")
        if head not in ("gdconv", "mlp"):
            raise ValueError(f"unknown head {head!r}: choose 'gdconv' or 'mlp'")
        # pretrained_weights is applied once at creation, never stored: a checkpoint carries the weights.
        self.config = {"image_size": image_size, "embedding_dim": embedding_dim, "head": head, "dropout": dropout}
        self.backbone = timm.create_model("mobilenetv3_small_100", pretrained=False, num_classes=0, global_pool="")
        if pretrained_weights:
            load_backbone_weights(self.backbone, pretrained_weights)
        channels = self.backbone.head_hidden_size  # 1024: conv_head output (num_features is the 576 before it)
        if head == "gdconv":
            self.head = nn.Sequential(
                GDConv(channels, image_size // 32),
                nn.Dropout(dropout),
                nn.Conv2d(channels, embedding_dim, 1, bias=False),
                nn.BatchNorm2d(embedding_dim),
            )
        else:  # the design document's MLP head, on globally pooled features
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Dropout(dropout),
                nn.Linear(channels, 512),
                nn.BatchNorm1d(512),
                nn.PReLU(512),
                nn.Dropout(dropout / 2),
                nn.Linear(512, embedding_dim),
                nn.BatchNorm1d(embedding_dim),
            )

    def backbone_parameters(self):
        return self.backbone.parameters()

    def embed_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
