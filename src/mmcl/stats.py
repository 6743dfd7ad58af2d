"""Seeds, 95% intervals and the three verdicts every reproduced claim uses.

A claim is decided from several seeds by a rule fixed before the run. Each rule reads one
`Estimate`: the mean over seeds of a per-seed figure (a difference A - B, a trend slope, ...) and
its 95% interval. How test-sample noise enters depends on the experiment's design, which every
estimate states (`test=`):

- `PER_SEED`: each seed draws its own test set (a new world per seed). The per-seed figures
  already vary with their test samples, so the interval is Student's t with n - 1 df on the
  per-seed values alone, se = s / sqrt(n); adding a test term as well would count that noise
  twice and put a floor under the interval that no number of seeds could pass. The per-seed test
  error is still recorded (`se_test`), for reading, not for the interval.
- `SHARED`: every seed is scored on one test set. Its sampling noise is common to all seeds and
  invisible in their spread, so it is added once, undivided: se^2 = s^2 / n + se_test^2, with
  Welch-Satterthwaite df = (a + b)^2 (n - 1) / a^2 (a = s^2 / n, b = se_test^2 known from
  thousands of samples). Here more seeds alone cannot shrink the interval below 1.96 se_test.

Differences of two models scored on the same samples take the paired per-sample error
(`paired_accuracy_se`), not two binomial errors in quadrature. One seed has no spread: its
interval is unbounded and every verdict on it is "inconclusive". A zero-width interval (no seed
spread and no test term) is an exact figure: it never decides a claim (`Rule.test` gives p = 1);
such a figure belongs under `Check`.

Verdicts (`HELD`, `NOT_HELD`, `INCONCLUSIVE`), each a two-sided 95% decision, i.e. p < 0.05 on
the side the estimate leans to (`Rule.test` gives that side and its p):
- `Greater(min_effect)`, "A > B": held when the interval's low end is above `min_effect`; not held
  when its high end is below it (the effect is confidently smaller, or reversed); else inconclusive.
- `Equivalent(margin)`, "no difference": held when the whole interval lies inside
  (-margin, +margin) (two one-sided tests); not held when it lies wholly outside; else
  inconclusive.
- `Rises(min_slope)` / `Falls`: a `Greater` on a per-seed least-squares slope (`slope_estimate`).
Every rule's margin is fixed before the run, in the claim's own units, with a one-line `reason`.
`mmcl.verdicts` takes a paper's rows together: Holm's step-down across the family, why a claim
stays inconclusive and how many seeds it would need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
VERDICTS = (HELD, NOT_HELD, INCONCLUSIVE)
LEVEL = 0.95
ALPHA = 1.0 - LEVEL
PER_SEED, SHARED = "per-seed", "shared"
TEST_DESIGNS = (PER_SEED, SHARED)


@dataclass(frozen=True)
class Estimate:
    """A per-seed figure's mean over seeds and its 95% interval (None ends: unbounded).

    `se` is the standard error the interval uses and `df` its t degrees of freedom (inf: normal);
    `test` says whether the seeds drew their own test sets or shared one (module docstring).
    """

    mean: float
    low: float | None
    high: float | None
    n_seeds: int
    per_seed: tuple[float, ...] = ()
    se_seed: float = math.nan
    se_test: float = 0.0
    test: str = PER_SEED
    se: float = math.nan
    df: float = math.nan

    @property
    def interval(self) -> list[float | None]:
        return [self.low, self.high]

    @property
    def exact(self) -> bool:
        """No seed spread and no test term: an exact figure, a check rather than a finding."""
        return self.se == 0.0

    @property
    def usable(self) -> bool:
        """Whether a rule can test it: bounded, with a positive standard error."""
        return self.low is not None and math.isfinite(self.se) and self.se > 0.0

    def text(self, digits: int = 3) -> str:
        """`+0.031 [+0.012, +0.050]`: signed, so a difference reads as one."""
        low = "-inf" if self.low is None else f"{self.low:+.{digits}f}"
        high = "+inf" if self.high is None else f"{self.high:+.{digits}f}"
        return f"{self.mean:+.{digits}f} [{low}, {high}]"


def _as_seed_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name}: no per-seed values")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: non-finite per-seed values {array.tolist()}")
    return array


def _check_design(test: str) -> None:
    if test not in TEST_DESIGNS:
        raise ValueError(f"test={test!r}: say {PER_SEED!r} or {SHARED!r} (module docstring)")


def estimate(
    values: Sequence[float],
    test_se: Sequence[float] | float | None = None,
    *,
    test: str,
) -> Estimate:
    """Mean of per-seed `values` with the module's 95% interval for the stated test design."""
    _check_design(test)
    x = _as_seed_array(values, "estimate")
    n = x.size
    se_test_sq = 0.0
    if test_se is not None:
        se = np.broadcast_to(np.asarray(test_se, dtype=float), x.shape)
        se_test_sq = float(np.mean(se**2))
    # Centred on the first value, so equal per-seed values give exactly zero spread (an exact
    # figure), not the 1e-17 that float rounding of the mean leaves.
    offset = x - x[0]
    mean, se_test = float(x[0] + offset.mean()), math.sqrt(se_test_sq)
    if n < 2:
        return Estimate(mean, None, None, 1, tuple(x.tolist()), math.nan, se_test, test)
    s_seed = float(offset.std(ddof=1))
    seed_term = s_seed**2 / n
    if test == PER_SEED:
        se, df = math.sqrt(seed_term), float(n - 1)
    else:
        se, df = math.sqrt(seed_term + se_test_sq), welch_df(seed_term, se_test_sq, n)
    half = t_quantile(df) * se
    return Estimate(
        mean, mean - half, mean + half, n, tuple(x.tolist()),
        s_seed / math.sqrt(n), se_test, test, se, df,
    )  # fmt: skip


def welch_df(seed_term: float, test_term: float, n_seeds: int) -> float:
    """Welch-Satterthwaite df of a seed term estimated from n seeds plus a known test term."""
    if seed_term <= 0.0:
        return math.inf  # only the known test term
    return (seed_term + test_term) ** 2 * (n_seeds - 1) / seed_term**2


def t_quantile(df: float, alpha: float = ALPHA) -> float:
    """Two-sided (1 - alpha) quantile of Student's t with `df` (the normal's at df = inf).

    scipy.special's ufuncs, not scipy.stats' distribution objects: the same numbers, and fast
    enough for the simulation tests that call this hundreds of thousands of times."""
    if math.isinf(df):
        return float(special.ndtri(1 - alpha / 2))
    return float(special.stdtrit(df, 1 - alpha / 2))


def _tail(z: float, df: float) -> float:
    """P(T >= z) for Student's t with `df` (normal at df = inf)."""
    if math.isinf(df):
        return float(special.ndtr(-z))
    return float(special.stdtr(df, -z))


def difference(
    a: Sequence[float],
    b: Sequence[float],
    test_se: Sequence[float] | float | None = None,
    *,
    test: str,
) -> Estimate:
    """Estimate of A - B, paired by seed (the i-th values share seed i).

    `test_se` is the per-seed test-sample error *of the difference*: for two models scored on
    the same samples, `paired_accuracy_se` of their per-sample correctness.
    """
    xa, xb = _as_seed_array(a, "difference A"), _as_seed_array(b, "difference B")
    if xa.shape != xb.shape:
        raise ValueError(f"difference: {xa.size} seeds for A but {xb.size} for B")
    return estimate(xa - xb, test_se, test=test)


def accuracy_se(accuracy: float | Sequence[float], n_test: int) -> np.ndarray:
    """Binomial standard error of an accuracy measured on `n_test` samples."""
    p = np.clip(np.asarray(accuracy, dtype=float), 0.0, 1.0)
    return np.sqrt(p * (1 - p) / max(int(n_test), 1))


def paired_accuracy_se(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> float:
    """Standard error of acc(A) - acc(B) when both are scored on the same test samples."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired_accuracy_se: A and B must be scored on the same samples")
    return float(np.std(a - b, ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan


def slope_estimate(
    x: Sequence[float],
    y_per_seed: Sequence[Sequence[float]],
    se_per_seed: Sequence[Sequence[float]] | None = None,
    *,
    test: str,
) -> Estimate:
    """Least-squares slope of y on x, per seed, then `estimate` over seeds.

    `y_per_seed[s][i]` is seed s's figure at `x[i]`; `se_per_seed` (same shape) its test-sample
    standard error, which reaches the slope as sqrt(sum_i w_i^2 se_i^2), w the slope's weights.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y_per_seed, dtype=float)
    if ys.ndim != 2 or ys.shape[1] != xs.size or xs.size < 2:
        raise ValueError(f"slope_estimate: need y of shape (seeds, {xs.size}) and >= 2 x values")
    centred = xs - xs.mean()
    weights = centred / float(np.sum(centred**2))
    slopes = ys @ weights
    se = None
    if se_per_seed is not None:
        se = np.sqrt(np.asarray(se_per_seed, dtype=float) ** 2 @ weights**2)
    return estimate(slopes, se, test=test)


# ---- rules ------------------------------------------------------------------------------------
# `test(est)` gives (the verdict the estimate leans to, its p-value): p < alpha decides it. The
# p-value is twice the one-sided tail, so p < 0.05 is exactly the 95% interval's decision.
Leaning = tuple[str | None, float]
UNDECIDABLE: Leaning = (None, 1.0)


def _greater_test(est: Estimate, bound: float) -> Leaning:
    if not est.usable or est.mean == bound:
        return UNDECIDABLE
    z = (est.mean - bound) / est.se
    return (HELD if z > 0 else NOT_HELD), min(1.0, 2 * _tail(abs(z), est.df))


def _decide(leaning: Leaning, alpha: float) -> str:
    direction, p = leaning
    return direction if direction is not None and p < alpha else INCONCLUSIVE


@dataclass(frozen=True)
class Greater:
    """ "A > B": the estimate is of A - B; `min_effect` is the smallest effect that counts."""

    min_effect: float = 0.0
    reason: str = ""

    @property
    def margin(self) -> float:
        return self.min_effect

    def text(self) -> str:
        bound = f"{self.min_effect:g}" if self.min_effect else "0"
        return (
            f"held if the 95% interval of the difference lies above {bound}; not held if it "
            f"lies below {bound}; else inconclusive"
        )

    def fails_if(self) -> str:
        return f"the interval lies below {self.min_effect:g}"

    def distance(self, est: Estimate) -> float:
        """How far the point estimate is from the boundary it must clear."""
        return abs(est.mean - self.min_effect)

    def test(self, est: Estimate) -> Leaning:
        return _greater_test(est, self.min_effect)

    def decide(self, est: Estimate, alpha: float = ALPHA) -> str:
        return _decide(self.test(est), alpha)


@dataclass(frozen=True)
class Equivalent:
    """ "No difference": the estimate is of A - B; `margin` is the equivalence margin (> 0)."""

    margin: float
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise ValueError(f"Equivalent: margin must be > 0, got {self.margin}")

    def text(self) -> str:
        return (
            f"held if the 95% interval of the difference lies inside +/-{self.margin:g}; not held "
            "if it lies wholly outside; else inconclusive"
        )

    def fails_if(self) -> str:
        return f"the interval lies wholly outside +/-{self.margin:g}"

    def distance(self, est: Estimate) -> float:
        return abs(self.margin - abs(est.mean))

    def test(self, est: Estimate) -> Leaning:
        if not est.usable or abs(est.mean) == self.margin:
            return UNDECIDABLE
        if abs(est.mean) < self.margin:  # two one-sided tests, both must reject
            z = min((est.mean + self.margin) / est.se, (self.margin - est.mean) / est.se)
            return HELD, min(1.0, 2 * _tail(z, est.df))
        z = (abs(est.mean) - self.margin) / est.se
        return NOT_HELD, min(1.0, 2 * _tail(z, est.df))

    def decide(self, est: Estimate, alpha: float = ALPHA) -> str:
        return _decide(self.test(est), alpha)


@dataclass(frozen=True)
class Rises:
    """ "Rises with x": the estimate is a per-seed slope (`slope_estimate`), above `min_slope`."""

    min_slope: float = 0.0
    x_name: str = "x"
    reason: str = ""

    @property
    def margin(self) -> float:
        return self.min_slope

    def text(self) -> str:
        return (
            f"held if the 95% interval of the slope over {self.x_name} lies above "
            f"{self.min_slope:g}; not held if below; else inconclusive"
        )

    def fails_if(self) -> str:
        return f"the slope's interval lies below {self.min_slope:g}"

    def distance(self, est: Estimate) -> float:
        return abs(est.mean - self.min_slope)

    def test(self, est: Estimate) -> Leaning:
        return _greater_test(est, self.min_slope)

    def decide(self, est: Estimate, alpha: float = ALPHA) -> str:
        return _decide(self.test(est), alpha)


@dataclass(frozen=True)
class Falls:
    """ "Falls with x": the mirror of `Rises` (the slope's interval below -`min_slope`)."""

    min_slope: float = 0.0
    x_name: str = "x"
    reason: str = ""

    @property
    def margin(self) -> float:
        return -self.min_slope or 0.0  # never "-0"

    def text(self) -> str:
        return (
            f"held if the 95% interval of the slope over {self.x_name} lies below "
            f"{-self.min_slope if self.min_slope else 0:g}; not held if above; else inconclusive"
        )

    def fails_if(self) -> str:
        return f"the slope's interval lies above {-self.min_slope if self.min_slope else 0:g}"

    def distance(self, est: Estimate) -> float:
        return abs(est.mean + self.min_slope)

    def test(self, est: Estimate) -> Leaning:
        if not est.usable:
            return UNDECIDABLE
        return _greater_test(Estimate(**{**est.__dict__, "mean": -est.mean}), self.min_slope)

    def decide(self, est: Estimate, alpha: float = ALPHA) -> str:
        return _decide(self.test(est), alpha)


Rule = Greater | Equivalent | Rises | Falls


# ---- preconditions ----------------------------------------------------------------------------
MET, FAILED, NOT_CHECKED = "met", "failed", "not checked"


@dataclass(frozen=True)
class Precondition:
    """What a run must show before a claim about a feature can be answered at all.

    `rule` names the arms and the test, chosen before any comparison and never reading the
    compared arms' difference (e.g. "the supervised arm's shape probe on `balanced` >= 0.30,
    chance 0.10"). `result(met, evidence)` is the row's `precondition` field; a failed one makes
    the claim inconclusive with the reason "not answerable here".
    """

    rule: str

    def result(self, met: bool, evidence: str = "") -> dict[str, str]:
        return {"rule": self.rule, "status": MET if met else FAILED, "evidence": evidence}


def lower_end_above(
    values: Sequence[float], test_se: Sequence[float] | float | None, bar: float, *, test: str
) -> tuple[bool, Estimate]:
    """The preconditions' test that an arm learns a feature: whether the lower end of the 95%
    interval of its per-seed `values` lies above `bar` (one seed: never), and the estimate."""
    est = estimate(values, test_se, test=test)
    return est.low is not None and est.low > bar, est


def precondition_not_stated() -> dict[str, str]:
    """The `precondition` field of a claim whose learnability test is not written yet."""
    return {"rule": "none stated", "status": NOT_CHECKED, "evidence": ""}


@dataclass(frozen=True)
class Claim:
    """A paper's claim as data, fixed before the run: what it says and the rule that decides it.

    `paper` is the paper's figure or stated direction; `figure` names the quantity the estimate
    measures (e.g. "OOD accuracy, MMCL - SL"); `family` the set of claims whose family-wise error
    `mmcl.verdicts` controls together (None: the paper's one family).
    """

    id: str
    statement: str
    paper: str
    figure: str
    rule: Rule
    family: str | None = None

    def decide(
        self,
        est: Estimate,
        digits: int = 3,
        detail: str = "",
        precondition: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The claim's JSON row: its own (raw) verdict, interval, p-value, rule and margin.

        `verdict` starts as the raw one; `mmcl.verdicts.decide_families` replaces it with the
        family verdict. A failed precondition or an exact figure never decides.
        """
        ours = f"{self.figure}: {est.text(digits)}"
        if detail:
            ours = f"{ours}; {detail}"
        precondition = precondition or precondition_not_stated()
        direction, p = self.rule.test(est)
        raw = _decide((direction, p), ALPHA)
        if precondition["status"] == FAILED:
            raw = INCONCLUSIVE
        return {
            "id": self.id,
            "statement": self.statement,
            "paper": self.paper,
            "ours": ours,
            "verdict": raw,
            "raw_verdict": raw,
            "estimate": est.mean,
            "interval": est.interval,
            "n_seeds": est.n_seeds,
            "per_seed": list(est.per_seed),
            "se": est.se,
            "se_seed": est.se_seed,
            "se_test": est.se_test,
            "df": est.df,
            "test": est.test,
            "exact": est.exact,
            "leans": direction,
            "p_value": p,
            "rule": self.rule.text(),
            "rule_kind": type(self.rule).__name__,
            "margin": self.rule.margin,
            "margin_reason": self.rule.reason,
            "fails_if": f"{self.figure}: {self.rule.fails_if()}",
            "family": self.family,
            "precondition": precondition,
        }


@dataclass(frozen=True)
class Check:
    """An identity or closed-form check: pass/fail within a stated tolerance, not a finding."""

    id: str
    statement: str
    tolerance: float
    detail: str = field(default="")

    def result(self, error: float) -> dict:
        """The check's JSON row; `error` is the measured deviation from the identity."""
        passed = bool(math.isfinite(error) and abs(error) <= self.tolerance)
        return {
            "id": self.id,
            "statement": self.statement,
            "error": float(error),
            "tolerance": self.tolerance,
            "passed": passed,
            "detail": self.detail,
        }


def verdict_counts(claims: Sequence[dict], key: str = "verdict") -> dict[str, int]:
    """How many claims got each verdict (`key`: the family `verdict` or `raw_verdict`)."""
    return {v: sum(c[key] == v for c in claims) for v in VERDICTS}
