"""The optional learning-rate schedule: linear warm-up, then constant or cosine decay.

The factor multiplies ``model.lr`` at every optimizer step. Warm-up rises linearly from
1 / (warmup + 1) to 1 over ``warmup`` steps (never 0, so the first step already learns); cosine then
falls from 1 to ``min_ratio`` at ``total`` steps (the fit's planned optimizer steps) and stays
there. Early stopping usually ends a fit before ``total``, so a cosine run stops part-way down.
"""

from __future__ import annotations

import math

import torch

#: model.lr_schedule values (null = a constant rate, no warm-up)
SCHEDULES = ("constant", "cosine")


def lr_factor(step: int, schedule: str, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    span = max(total - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, warmup: int, total: int, min_ratio: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR applying :func:`lr_factor`."""
    if schedule == "cosine" and (total <= 0 or math.isinf(total)):
        raise ValueError(
            "model.lr_schedule cosine needs a finite number of training steps (trainer.max_epochs or "
            f"trainer.max_steps); got {total}"
        )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, schedule, warmup, int(total) if schedule == "cosine" else 0, min_ratio)
    )
