"""Parameters and MACs per embedder, counted by running the real graph."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .base import EmbedderNet


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: EmbedderNet) -> int:
    """Multiply-accumulates of one forward pass at batch 1, from torch's operator-level FLOP counter."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, model.image_size, model.image_size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


def summary_table(specs: list[tuple[str, int]]) -> str:
    """Markdown table of parameters and MACs for ``(name, image_size)`` pairs."""
    from . import create_embedder

    rows = ["| Embedder | Input | Parameters | MACs | FP32 weights |", "|---|---|---:|---:|---:|"]
    for name, size in specs:
        model = create_embedder(name, image_size=size)
        params = count_parameters(model)
        rows.append(
            f"| {name} | {size}x{size} | {params:,} | {count_macs(model) / 1e6:.1f} M | {params * 4 / 1e6:.2f} MB |"
        )
    return "\n".join(rows)


def main() -> None:
    """Print the embedder summary table for the shipped architectures and sizes."""
    print(summary_table([("mobilefacenet", 112), ("mobilefacenet", 224), ("mobilenetv3_small_100", 224)]))


if __name__ == "__main__":
    main()
