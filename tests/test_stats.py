"""mmcl.stats: intervals against scipy, and every rule driven by fabricated per-seed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mmcl import stats
from mmcl.stats import HELD, INCONCLUSIVE, NOT_HELD

PER_SEED, SHARED = stats.PER_SEED, stats.SHARED


def test_interval_without_test_noise_is_students_t():
    values = [0.71, 0.74, 0.69, 0.73]
    est = stats.estimate(values, test=PER_SEED)
    low, high = scipy_stats.t.interval(
        0.95, df=3, loc=np.mean(values), scale=scipy_stats.sem(values)
    )
    assert est.low == pytest.approx(low) and est.high == pytest.approx(high)
    assert est.n_seeds == 4 and est.per_seed == tuple(values)


def test_a_shared_test_set_widens_the_interval_and_is_not_divided_by_seeds():
    values = [0.5, 0.52, 0.51]
    plain = stats.estimate(values, test=SHARED)
    noisy = stats.estimate(values, test_se=0.02, test=SHARED)
    assert noisy.low < plain.low and noisy.high > plain.high
    seed_term, test_term = np.var(values, ddof=1) / 3, 0.02**2
    df = (seed_term + test_term) ** 2 * 2 / seed_term**2  # Welch-Satterthwaite, test term known
    expected = scipy_stats.t.ppf(0.975, df=df) * math.sqrt(seed_term + test_term)
    assert noisy.high - noisy.mean == pytest.approx(expected)


def test_a_dominant_known_test_term_is_not_inflated_by_few_seeds():
    est = stats.estimate([0.500, 0.501, 0.499], test_se=0.02, test=SHARED)  # test noise large
    assert est.high - est.mean == pytest.approx(1.96 * 0.02, rel=0.01)  # ~z, not t(2) = 4.3
    exact = stats.estimate([0.5, 0.5, 0.5], test_se=0.02, test=SHARED)
    assert exact.high - exact.mean == pytest.approx(scipy_stats.norm.ppf(0.975) * 0.02)


def test_per_seed_test_sets_keep_the_test_error_out_of_the_interval():
    values = [0.5, 0.52, 0.51]
    per_seed = stats.estimate(values, test_se=0.02, test=PER_SEED)
    assert per_seed.interval == stats.estimate(values, test=PER_SEED).interval
    assert per_seed.se_test == pytest.approx(0.02) and per_seed.test == PER_SEED
    with pytest.raises(ValueError, match="per-seed"):
        stats.estimate(values, test="both")


def test_an_exact_figure_never_decides_a_claim():
    assert stats.estimate([0.0985] * 3, test=PER_SEED).exact  # no 1e-17 left by rounding
    est = stats.estimate([0.3, 0.3, 0.3], test=PER_SEED)
    assert est.low == est.high == pytest.approx(0.3) and est.exact
    for rule in (stats.Greater(), stats.Equivalent(0.5), stats.Rises(), stats.Falls()):
        assert rule.test(est) == (None, 1.0) and rule.decide(est) == INCONCLUSIVE
    row = stats.Claim("c", "s", "p", "f", stats.Equivalent(0.5)).decide(est)
    assert row["exact"] and row["verdict"] == INCONCLUSIVE


def test_one_seed_is_unbounded_and_every_rule_says_inconclusive():
    est = stats.difference([0.9], [0.1], test=PER_SEED)
    assert est.interval == [None, None] and est.n_seeds == 1
    for rule in (stats.Greater(), stats.Equivalent(0.05), stats.Rises(), stats.Falls()):
        assert rule.decide(est) == INCONCLUSIVE


def test_difference_is_paired_by_seed():
    a, b = [0.60, 0.70, 0.80], [0.50, 0.60, 0.70]  # seeds move both; the gap is constant
    est = stats.difference(a, b, test=PER_SEED)
    assert est.mean == pytest.approx(0.1) and est.high - est.low == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="3 seeds for A but 2"):
        stats.difference(a, b[:2], test=PER_SEED)


def test_difference_takes_the_test_error_of_the_difference():
    est = stats.difference([0.6, 0.6, 0.6], [0.5, 0.5, 0.5], 0.05, test=SHARED)
    assert est.se_test == pytest.approx(0.05) and est.se == pytest.approx(0.05)


def test_paired_accuracy_se_is_smaller_for_correlated_predictions():
    rng = np.random.default_rng(0)
    a = rng.random(2000) < 0.7
    b = a.copy()
    flip = rng.random(2000) < 0.05
    b[flip] = ~b[flip]
    paired = stats.paired_accuracy_se(a, b)
    unpaired = math.hypot(*stats.accuracy_se([a.mean(), b.mean()], 2000))
    assert paired < unpaired / 2


def test_slope_matches_polyfit_per_seed():
    x = [0.0, 0.25, 0.5, 1.0]
    ys = [[0.5, 0.55, 0.62, 0.7], [0.48, 0.57, 0.6, 0.72], [0.5, 0.5, 0.64, 0.69]]
    est = stats.slope_estimate(x, ys, test=PER_SEED)
    slopes = [np.polyfit(x, y, 1)[0] for y in ys]
    assert est.per_seed == pytest.approx(slopes)
    with pytest.raises(ValueError, match="shape"):
        stats.slope_estimate(x, [[1.0, 2.0]], test=PER_SEED)


@pytest.mark.parametrize(
    ("a_shift", "verdict"), [(0.10, HELD), (-0.10, NOT_HELD), (0.0, INCONCLUSIVE)]
)
def test_greater_gives_each_verdict(a_shift, verdict):
    base = np.array([0.60, 0.65, 0.62, 0.58, 0.63])
    a = base + a_shift + np.array([0.004, -0.003, 0.002, -0.004, 0.001])
    assert stats.Greater().decide(stats.difference(a, base, 0.007, test=SHARED)) == verdict


def test_greater_min_effect_turns_a_small_positive_effect_into_not_held():
    est = stats.estimate([0.011, 0.012, 0.010], test_se=0.001, test=SHARED)  # about +0.011
    assert stats.Greater().decide(est) == HELD
    assert stats.Greater(min_effect=0.05).decide(est) == NOT_HELD
    assert stats.Greater(min_effect=0.011).decide(est) == INCONCLUSIVE


def test_pure_noise_names_a_winner_about_5_percent_of_the_time():
    rng = np.random.default_rng(1)
    decided = sum(
        stats.Greater().decide(stats.estimate(rng.normal(0.0, 1.0, size=3), test=PER_SEED))
        != INCONCLUSIVE
        for _ in range(400)
    )
    assert decided / 400 < 0.09  # two one-sided 2.5% tails: 5% expected


@pytest.mark.parametrize(
    ("values", "test_se", "verdict"),
    [
        ([0.002, -0.001, 0.001], 0.002, HELD),  # tight around 0
        ([0.002, -0.001, 0.001], 0.05, INCONCLUSIVE),  # wide: could be anything
        ([0.2, 0.21, 0.19], 0.005, NOT_HELD),  # clearly beyond the margin
        ([-0.2, -0.21, -0.19], 0.005, NOT_HELD),
    ],
)
def test_equivalent_gives_each_verdict(values, test_se, verdict):
    est = stats.estimate(values, test_se, test=SHARED)
    assert stats.Equivalent(margin=0.02).decide(est) == verdict


def test_equivalent_needs_a_positive_margin():
    with pytest.raises(ValueError, match="margin"):
        stats.Equivalent(margin=0.0)


@pytest.mark.parametrize(("direction", "verdict"), [(1, HELD), (-1, NOT_HELD), (0, INCONCLUSIVE)])
def test_rises_and_falls_mirror_each_other(direction, verdict):
    x = [0.0, 0.5, 1.0]
    wobble = np.array([[0.01, -0.01, 0.0], [-0.01, 0.0, 0.01], [0.0, 0.01, -0.01]])
    ys = 0.5 + direction * 0.2 * np.array([x, x, x]) + wobble
    est = stats.slope_estimate(x, ys, test=PER_SEED)
    mirrored = {HELD: NOT_HELD, NOT_HELD: HELD, INCONCLUSIVE: INCONCLUSIVE}
    assert stats.Rises(x_name="q").decide(est) == verdict
    assert stats.Falls(x_name="q").decide(est) == mirrored[verdict]


def test_claim_row_carries_verdict_interval_seeds_and_rule():
    claim = stats.Claim("C1", "A beats B", "A > B (paper)", "acc A - B", stats.Greater())
    est = stats.difference([0.8, 0.82, 0.81], [0.5, 0.52, 0.5], test=PER_SEED)
    row = claim.decide(est, detail="n_test 400")
    assert row["verdict"] == HELD and row["n_seeds"] == 3 and len(row["interval"]) == 2
    assert row["rule"].startswith("held if the 95% interval")
    assert row["ours"].startswith("acc A - B: +0.303 [") and row["ours"].endswith("n_test 400")
    assert stats.verdict_counts([row]) == {HELD: 1, NOT_HELD: 0, INCONCLUSIVE: 0}


def test_check_passes_within_its_tolerance_only():
    check = stats.Check("identity", "closed form equals SVD", tolerance=1e-6)
    assert check.result(1e-8)["passed"] and not check.result(1e-3)["passed"]
    assert not check.result(math.nan)["passed"]
