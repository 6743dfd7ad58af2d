"""Learning rate as a pure function of the step (nanoGPT's `get_lr`): linear warm-up, cosine."""

from __future__ import annotations

import math


def learning_rate(
    step: int, base_lr: float, warmup: int, total: int, min_ratio: float = 0.0
) -> float:
    """lr at optimizer step `step` (0-based): warm-up to base_lr, cosine to base_lr * min_ratio."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return base_lr * (min_ratio + (1.0 - min_ratio) * cosine)
