"""mcl2024 pair counts: the pair-sampling floor of a paired MMVP-style difference, and the
pairs per attribute each scale states in configs/mcl2024/scales.yaml."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmcl.errors import MMCLError
from mmcl.experiments.mcl2024 import power, scales

DESIGNS = [(0.5, 0.05, 3), (0.2, 0.05, 3), (0.2, 0.05, 5), (0.1, 0.0667, 10), (0.35, 0.02, 2)]


def _correlated_pairs(rng: np.random.Generator, shape, p: float, flip: float) -> tuple:
    """Two models with no true difference on pairs of `shape` (last axis: the pairs): b right
    with probability p, a equal to b except on a fraction `flip` of the pairs, where it is
    drawn afresh (right with probability p)."""
    b = rng.random(shape) < p
    a = np.where(rng.random(shape) < flip, rng.random(shape) < p, b)
    return a, b


def test_pair_variance_is_the_discordant_fraction_less_the_squared_difference():
    rng = np.random.default_rng(0)
    a, b = _correlated_pairs(rng, 400, 0.4, 0.5)
    b[:40] = True  # and a true difference
    discordant = np.mean(a != b)
    difference = a.mean() - b.mean()
    assert power.pair_variance(a, b) == pytest.approx(discordant - difference**2)
    assert power.pair_variance(b, b) == 0.0


@pytest.mark.parametrize(("variance", "difference", "seeds"), DESIGNS)
def test_pairs_needed_is_the_fewest_whose_floor_is_below_the_difference(
    variance, difference, seeds
):
    n = power.pairs_needed(variance, difference, seeds)
    assert power.pair_floor(variance, n, seeds) <= difference
    assert power.pair_floor(variance, n - 1, seeds) > difference


def test_more_agreement_seeds_or_a_larger_difference_need_fewer_pairs():
    base = power.pairs_needed(0.3, 0.05, 3)
    assert power.pairs_needed(0.15, 0.05, 3) < base
    assert power.pairs_needed(0.3, 0.05, 5) < base
    assert power.pairs_needed(0.3, 0.1, 3) < base
    # The floor falls as 1 / sqrt(pairs): four times the pairs halve it.
    assert power.pair_floor(0.3, 400, 3) == pytest.approx(power.pair_floor(0.3, 100, 3) / 2)


def test_the_floor_is_the_t_interval_that_pair_sampling_alone_gives():
    """Models with no true difference and no seed-to-seed variation, only pair sampling: the
    per-seed differences' spread is sqrt(v / n), so the intervals over seeds are, on average,
    as wide as the floor (up to the bias of the sample SD) and miss 0 about 5% of the time."""
    rng = np.random.default_rng(1)
    n, seeds, trials = 200, 3, 4000
    a, b = _correlated_pairs(rng, (trials, seeds, n), 0.4, 0.4)
    per_seed = a.mean(axis=-1) - b.mean(axis=-1)  # (trials, seeds)
    d = a.astype(float) - b
    variance = float(d.var(axis=-1).mean())
    assert per_seed.std() == pytest.approx(math.sqrt(variance / n), rel=0.05)
    sd = per_seed.std(axis=1, ddof=1)
    t = power.pair_floor(variance, n, seeds) / math.sqrt(variance / (seeds * n))
    half = t * sd / math.sqrt(seeds)
    c4 = math.sqrt(2 / (seeds - 1)) * math.gamma(seeds / 2) / math.gamma((seeds - 1) / 2)
    assert half.mean() == pytest.approx(c4 * power.pair_floor(variance, n, seeds), rel=0.05)
    assert abs(np.mean(np.abs(per_seed.mean(axis=1)) > half) - 0.05) < 0.015


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: power.pairs_needed(0.2, 0.05, 1), "seeds >= 2"),
        (lambda: power.pairs_needed(0.2, 0.0, 3), "difference to decide must be > 0"),
        (lambda: power.pair_floor(1.5, 10, 3), r"pair variance must lie in \[0, 1\]"),
        (lambda: power.pair_variance([], []), "at least one pair"),
    ],
)
def test_impossible_designs_are_refused(call, message):
    with pytest.raises(MMCLError, match=message):
        call()


# ---- the scales' pair counts -------------------------------------------------------------------
def test_every_scale_has_the_pairs_its_design_asks_for():
    design = scales.PAIR_DESIGN
    for name, sc in scales.SCALES.items():
        needed = power.pairs_needed(design.pair_variance, design.difference, len(sc.seeds))
        assert sc.mmvp_pairs >= needed, name


def test_a_scale_short_of_pairs_is_refused_naming_the_field():
    design = scales.PAIR_DESIGN
    tiny = scales.SCALES["tiny"]
    needed = power.pairs_needed(design.pair_variance, design.difference, len(tiny.seeds))
    short = {**scales.SCALES, "tiny": scales.Scale(**{**tiny.__dict__, "mmvp_pairs": needed - 1})}
    with pytest.raises(MMCLError, match=rf"scales\.tiny\.mmvp_pairs = {needed - 1} .* {needed}"):
        scales.check_pairs(short, design, "scales.yaml")
    scales.check_pairs(scales.SCALES, design, "scales.yaml")  # the committed file passes
