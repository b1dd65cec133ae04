"""Per-step schedules: linear LR warm-up then cosine to ``min_lr``; ArcFace margin warm-up.

Both are pure functions of the global step, so a resumed run recomputes exactly the
values an uninterrupted one would use.
"""

from __future__ import annotations

import math

import torch


class WarmupCosine:
    """``LambdaLR`` factor: 0 -> 1 linearly over the warm-up steps, then cosine down to ``min_lr / lr``."""

    def __init__(self, total_steps: int, warmup_steps: int, base_lr: float, min_lr: float) -> None:
        self.total_steps = max(1, total_steps)
        self.warmup_steps = min(warmup_steps, self.total_steps)
        self.floor = min(1.0, min_lr / base_lr)

    def __call__(self, step: int) -> float:
        # Step s is the (s+1)-th optimizer update: warm-up never starts at a useless LR of 0.
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps + 1) / span)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, base_lr: float,
                 min_lr: float) -> torch.optim.lr_scheduler.LambdaLR:
    """One factor for every parameter group, so the backbone keeps its multiplier throughout.

    The factor is wrapped in a plain function: ``LambdaLR`` then saves only its step count, and a
    resumed run with more epochs keeps the schedule built from its own settings.
    """
    factor = WarmupCosine(total_steps, warmup_steps, base_lr, min_lr)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step))


def arcface_margin(step: int, total_steps: int, final_margin: float, warmup_fraction: float) -> float:
    """Margin 0 -> ``final_margin`` linearly over the first ``warmup_fraction`` of the steps."""
    ramp = warmup_fraction * total_steps
    if ramp <= 0:
        return final_margin
    return final_margin * min(1.0, step / ramp)
