"""How many MMVP-style pairs a scale needs: the pair-sampling floor of a paired difference.

Two models scored on the same n pairs differ on pair i by d_i = mcl_i - clip_i in {-1, 0, 1};
their difference of pair accuracies, mean(d), has the sampling error sqrt(v / n), where v is the
per-pair variance of d (the discordant fraction minus the squared difference, so at most 0.5
when the two models are right on independent halves of the pairs, less the more they agree).
Every seed scores its own pairs (`PER_SEED`), so the claim's 95% interval is Student's t on the
S per-seed figures, half-width t(S - 1) * sd / sqrt(S), and pair sampling alone puts
sd >= sqrt(v / n): the interval is at least t(S - 1) * sqrt(v / (S n)) wide on each side
whatever the models do. That floor is what the pair count sets; a difference of `difference`
between two models can be decided only where the floor lies below it (`pairs_needed`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mmcl.errors import MMCLError
from mmcl.stats import ALPHA, t_quantile


def pair_variance(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Per-pair variance of the paired difference a_i - b_i (two models on the same pairs)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        raise MMCLError("pair_variance needs at least one pair scored by both models")
    return float(d.var())


def _check(variance: float, seeds: int) -> None:
    if not 0.0 <= variance <= 1.0:
        raise MMCLError(f"pair variance must lie in [0, 1] (d is -1, 0 or 1), got {variance}")
    if seeds < 2:
        raise MMCLError(f"a per-seed interval needs seeds >= 2, got {seeds}; run more seeds")


def pair_floor(variance: float, n_pairs: int, seeds: int, alpha: float = ALPHA) -> float:
    """The half-width pair sampling alone gives the interval over `seeds` seeds of n pairs."""
    _check(variance, seeds)
    return t_quantile(seeds - 1, alpha) * math.sqrt(variance / (seeds * n_pairs))


def pairs_needed(variance: float, difference: float, seeds: int, alpha: float = ALPHA) -> int:
    """The fewest pairs per attribute whose floor (`pair_floor`) is at most `difference`."""
    _check(variance, seeds)
    if difference <= 0:
        raise MMCLError(f"the difference to decide must be > 0, got {difference}")
    t = t_quantile(seeds - 1, alpha)
    return max(1, math.ceil(variance * (t / difference) ** 2 / seeds))
