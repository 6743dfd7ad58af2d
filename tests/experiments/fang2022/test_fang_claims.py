"""fang2022 claims on fabricated per-seed numbers: each rule's three verdicts, the F2 margin,
the interval's parts (seed spread, test samples, line) and the line claim."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special
from scipy import stats as scipy_stats

from mmcl import stats
from mmcl.experiments.fang2022 import claims
from mmcl.experiments.fang2022.causes import ROLES
from mmcl.experiments.fang2022.claims import COMPARISONS

LINE = {"transform": "logit", "slope": 0.9, "intercept": -0.5, "r": 0.99, "n": 10,
        "eps": 1e-3, "coeffs": []}  # fmt: skip
BIG_N = 10**9  # test-sample error ~0: the seed spread decides
F2_HELD = {"verdict": stats.HELD, "estimate": 15.0}  # margin 5 pp for the equivalence claims
GREATER = [c for c in COMPARISONS if c.kind == "greater"]
EQUIVALENT = [c for c in COMPARISONS if c.kind == "equivalent"]


def beta(x: float) -> float:
    return float(special.expit(0.9 * special.logit(x) - 0.5))


def point(er_pp: list[float], x: float = 0.5) -> dict:
    """A role whose seeds sit `er_pp` above the line at ID accuracy x, on both shifts."""
    y = [beta(x) + e / 100 for e in er_pp]
    return {"id": [x] * len(er_pp), "ood": [{"sketch": v, "unseen_colors": v} for v in y]}


def raw(er: dict[str, list[float]], n_test: int = BIG_N, line: dict = LINE) -> dict:
    """Every role at ER 0 on three seeds, except those given."""
    return {"n_test": n_test, "line": line,
            "points": {r: point(er.get(r, [0.0, 0.0, 0.0])) for r in ROLES}}  # fmt: skip


CASES = {
    "clear": [10.1, 9.9, 10.0],
    "reverse": [-10.1, -9.9, -10.0],
    "noise": [6.0, -5.0, 1.0],
}


@pytest.mark.parametrize("case,verdict", [("clear", "held"), ("reverse", "not held"),
                                          ("noise", "inconclusive")])  # fmt: skip
@pytest.mark.parametrize("comparison", GREATER, ids=lambda c: c.claim_id)
def test_greater_claims(comparison, case, verdict):
    row = claims.decide_comparison(raw({comparison.treatment: CASES[case]}), comparison, None)
    assert row["verdict"] == verdict, row
    assert row["n_seeds"] == 3 and row["rule"] == stats.Greater(0.0).text()
    assert row["estimate"] == pytest.approx(np.mean(CASES[case]), abs=1e-6)


EQ_CASES = {
    "clear": ([0.1, -0.1, 0.0], "held"),  # ΔER ~0, well inside ±5
    "reverse": ([12.1, 11.9, 12.0], "not held"),  # wholly outside ±5
    "wide": ([6.0, -6.0, 0.0], "inconclusive"),  # mean 0 but the interval reaches past ±5
}


@pytest.mark.parametrize("case", list(EQ_CASES))
@pytest.mark.parametrize("comparison", EQUIVALENT, ids=lambda c: c.claim_id)
def test_equivalence_claims(comparison, case):
    delta, verdict = EQ_CASES[case]
    row = claims.decide_comparison(raw({comparison.treatment: delta}), comparison, F2_HELD)
    assert row["verdict"] == verdict, row
    assert "margin = 0.333 x F2's ΔER +15.00 pp" in row["rule"]
    assert "+/-5" in row["rule"]


def test_equivalence_is_inconclusive_without_a_held_distribution_effect():
    rows = {r["id"]: r for r in claims.decide_claims(raw({}))}  # every ΔER exactly 0
    assert rows["F2-distribution"]["verdict"] == "inconclusive"
    for c in EQUIVALENT:
        assert rows[c.claim_id]["verdict"] == "inconclusive"
        assert "F2 not held" in rows[c.claim_id]["rule"]
    reverse = raw({"clip-diverse/zeroshot": [-10.0, -10.1, -9.9]})
    rows = {r["id"]: r for r in claims.decide_claims(reverse)}
    assert rows["F2-distribution"]["verdict"] == "not held"
    assert all(rows[c.claim_id]["verdict"] == "inconclusive" for c in EQUIVALENT)


def test_paper_pattern_end_to_end():
    diverse = [15.1, 14.9, 15.0]
    er = {r: diverse for r in ROLES if "diverse" in r}
    er["clip-diverse/probe-id"] = [5.0, 5.2, 4.8]
    rows = claims.decide_claims(raw(er))
    assert [r["id"] for r in rows] == ["F0-line", *(c.claim_id for c in COMPARISONS)]
    assert all(r["verdict"] == "held" for r in rows), [(r["id"], r["verdict"]) for r in rows]
    assert {"id", "statement", "paper", "ours", "verdict", "estimate", "interval", "n_seeds",
            "per_seed", "rule"} <= set(rows[1])  # fmt: skip
    assert "ID acc 50.0 %" in rows[1]["ours"]
    assert "F2-distribution held" in claims.headline(rows)


def test_interval_is_seed_spread_plus_test_samples_plus_line():
    t, c = [2.0, 4.0, 6.0], [0.0, 0.0, 0.0]
    n = 1000
    data = raw({"clip-diverse/zeroshot": t, "clip-narrow": c}, n_test=n)
    est = claims.delta_er(data, "clip-diverse/zeroshot", "clip-narrow")
    # by hand: binomial se of y (mean of two shifts) and x through the line's slope, both points
    x, h = 0.5, 1e-6
    slope = (beta(x + h) - beta(x - h)) / (2 * h)
    se = []
    for e in t:
        y = beta(x) + e / 100
        var_t = 2 * y * (1 - y) / n / 4 + slope**2 * x * (1 - x) / n
        var_c = 2 * beta(x) * (1 - beta(x)) / n / 4 + slope**2 * x * (1 - x) / n
        se.append(100 * np.sqrt(var_t + var_c))
    seed_term, test_term = np.var(t, ddof=1) / 3, np.mean(np.square(se))
    df = (seed_term + test_term) ** 2 * 2 / seed_term**2  # Welch-Satterthwaite (mmcl.stats)
    half = scipy_stats.t.ppf(0.975, df) * np.sqrt(seed_term + test_term)
    assert est.mean == pytest.approx(4.0, abs=1e-6)
    assert est.high - est.mean == pytest.approx(half, rel=1e-4)
    # the line's bootstrap spread widens it when the two points sit at different x
    rng = np.random.default_rng(0)
    coeffs = np.column_stack([-0.5 + 0.1 * rng.standard_normal(200),
                              0.9 + 0.1 * rng.standard_normal(200)])  # fmt: skip
    wobbly = dict(LINE, coeffs=coeffs.tolist())
    far = raw({}, n_test=n, line=wobbly)
    far["points"]["clip-narrow"] = point(c, x=0.3)
    far["points"]["clip-diverse/zeroshot"] = point(t, x=0.7)
    plain = raw({}, n_test=n)
    plain["points"] = far["points"]
    wide = claims.delta_er(far, "clip-diverse/zeroshot", "clip-narrow")
    narrow = claims.delta_er(plain, "clip-diverse/zeroshot", "clip-narrow")
    assert wide.mean == pytest.approx(narrow.mean)
    assert wide.high - wide.low > narrow.high - narrow.low + 0.5


def test_one_seed_is_inconclusive():
    one = raw({r: [0.0] for r in ROLES} | {"clip-diverse/zeroshot": [20.0]})
    rows = {r["id"]: r for r in claims.decide_claims(one)}
    assert rows["F2-distribution"]["verdict"] == "inconclusive"
    assert rows["F2-distribution"]["interval"] == [None, None]


def test_seed_counts_must_match():
    data = raw({"clip-narrow": [0.0, 0.0]})
    with pytest.raises(ValueError, match="seeds"):
        claims.delta_er(data, "clip-diverse/zeroshot", "clip-narrow")


@pytest.mark.parametrize("r,n,verdict", [(0.99, 30, "held"), (0.8, 30, "not held"),
                                         (0.97, 5, "inconclusive"),
                                         (0.99, 3, "inconclusive")])  # fmt: skip
def test_line_claim(r, n, verdict):
    row = claims.decide_line(raw({}, line=dict(LINE, r=r, n=n)))
    assert row["id"] == "F0-line" and row["verdict"] == verdict, row
