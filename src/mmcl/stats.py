"""Seeds, 95% intervals and the three verdicts every reproduced claim uses.

A claim is decided from several seeds by a rule fixed before the run. Each rule reads one
`Estimate`: the mean over seeds of a per-seed figure (a difference A - B, a trend slope, ...) and
its 95% interval. The interval's standard error has two parts, stated here once:

    se^2 = s_seed^2 / n  +  mean_s(se_test,s^2)

`s_seed` is the sample standard deviation of the per-seed figures (training-seed variance, which
also holds test-sample noise when each seed draws its own test set); `se_test,s` is the per-seed
test-sample standard error (e.g. binomial for an accuracy). The test term is *not* divided by n: a
test set shared by all seeds adds its noise once to every seed, and the seed spread cannot see it.
Where each seed draws its own test set this over-counts, which errs towards "inconclusive". The
multiplier is Student's t (two-sided 95%) with Welch-Satterthwaite degrees of freedom: the seed
term is estimated from n seeds (n - 1 df), the test term from thousands of test samples (taken as
known), so df = (a + b)^2 (n - 1) / a^2 with a = s_seed^2 / n, b = se_test^2. With no test term
this is t with n - 1 df, and three seeds give wide intervals, as they should; a test term known
this well is not inflated by the seed count. One seed has no seed variance to measure: its
interval is unbounded and every verdict on it is "inconclusive".

Verdicts (`HELD`, `NOT_HELD`, `INCONCLUSIVE`):
- `Greater(min_effect)`, "A > B": held when the interval's low end is above `min_effect`; not held
  when its high end is below it (the effect is confidently smaller, or reversed); else inconclusive.
- `Equivalent(margin)`, "no difference": held when the whole interval lies inside
  (-margin, +margin); not held when it lies wholly outside; else inconclusive.
- `Rises(min_slope)` / `Falls`: a `Greater` on a per-seed least-squares slope (`slope_estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
VERDICTS = (HELD, NOT_HELD, INCONCLUSIVE)
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A per-seed figure's mean over seeds and its 95% interval (None ends: unbounded)."""

    mean: float
    low: float | None
    high: float | None
    n_seeds: int
    per_seed: tuple[float, ...] = ()
    se_seed: float = math.nan
    se_test: float = 0.0

    @property
    def interval(self) -> list[float | None]:
        return [self.low, self.high]

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


def estimate(values: Sequence[float], test_se: Sequence[float] | float | None = None) -> Estimate:
    """Mean of per-seed `values` with the module's 95% interval (seed + test-sample variance)."""
    x = _as_seed_array(values, "estimate")
    n = x.size
    se_test_sq = 0.0
    if test_se is not None:
        se = np.broadcast_to(np.asarray(test_se, dtype=float), x.shape)
        se_test_sq = float(np.mean(se**2))
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, None, None, 1, tuple(x.tolist()), math.nan, math.sqrt(se_test_sq))
    s_seed = float(x.std(ddof=1))
    seed_term = s_seed**2 / n
    se = math.sqrt(seed_term + se_test_sq)
    half = t_quantile(seed_term, se_test_sq, n) * se
    return Estimate(
        mean,
        mean - half,
        mean + half,
        n,
        tuple(x.tolist()),
        s_seed / math.sqrt(n),
        math.sqrt(se_test_sq),
    )


def t_quantile(seed_term: float, test_term: float, n_seeds: int) -> float:
    """Two-sided 95% t quantile at the Welch-Satterthwaite df of seed term + known test term."""
    if seed_term <= 0.0:
        return float(scipy_stats.norm.ppf(0.5 + LEVEL / 2))  # only the known test term
    df = (seed_term + test_term) ** 2 * (n_seeds - 1) / seed_term**2
    return float(scipy_stats.t.ppf(0.5 + LEVEL / 2, df=df))


def difference(
    a: Sequence[float],
    b: Sequence[float],
    a_test_se: Sequence[float] | float | None = None,
    b_test_se: Sequence[float] | float | None = None,
) -> Estimate:
    """Estimate of A - B, paired by seed (the i-th values share seed i).

    Test-sample errors add in quadrature, as for independent test sets; for accuracies on one
    shared test set `paired_accuracy_se` is tighter and should be passed as `a_test_se` alone.
    """
    xa, xb = _as_seed_array(a, "difference A"), _as_seed_array(b, "difference B")
    if xa.shape != xb.shape:
        raise ValueError(f"difference: {xa.size} seeds for A but {xb.size} for B")
    se = None
    if a_test_se is not None or b_test_se is not None:
        sa = np.broadcast_to(np.asarray(0.0 if a_test_se is None else a_test_se, float), xa.shape)
        sb = np.broadcast_to(np.asarray(0.0 if b_test_se is None else b_test_se, float), xb.shape)
        se = np.sqrt(sa**2 + sb**2)
    return estimate(xa - xb, se)


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
    return estimate(slopes, se)


@dataclass(frozen=True)
class Greater:
    """ "A > B": the estimate is of A - B; `min_effect` is the smallest effect that counts."""

    min_effect: float = 0.0

    def text(self) -> str:
        bound = f"{self.min_effect:g}" if self.min_effect else "0"
        return (
            f"held if the 95% interval of the difference lies above {bound}; not held if it "
            f"lies below {bound}; else inconclusive"
        )

    def decide(self, est: Estimate) -> str:
        if est.low is not None and est.low > self.min_effect:
            return HELD
        if est.high is not None and est.high < self.min_effect:
            return NOT_HELD
        return INCONCLUSIVE


@dataclass(frozen=True)
class Equivalent:
    """ "No difference": the estimate is of A - B; `margin` is the equivalence margin (> 0)."""

    margin: float

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise ValueError(f"Equivalent: margin must be > 0, got {self.margin}")

    def text(self) -> str:
        return (
            f"held if the 95% interval of the difference lies inside +/-{self.margin:g}; not held "
            "if it lies wholly outside; else inconclusive"
        )

    def decide(self, est: Estimate) -> str:
        if est.low is None or est.high is None:
            return INCONCLUSIVE
        if -self.margin < est.low and est.high < self.margin:
            return HELD
        if est.low > self.margin or est.high < -self.margin:
            return NOT_HELD
        return INCONCLUSIVE


@dataclass(frozen=True)
class Rises:
    """ "Rises with x": the estimate is a per-seed slope (`slope_estimate`), above `min_slope`."""

    min_slope: float = 0.0
    x_name: str = "x"

    def text(self) -> str:
        return (
            f"held if the 95% interval of the slope over {self.x_name} lies above "
            f"{self.min_slope:g}; not held if below; else inconclusive"
        )

    def decide(self, est: Estimate) -> str:
        return Greater(self.min_slope).decide(est)


@dataclass(frozen=True)
class Falls:
    """ "Falls with x": the mirror of `Rises` (the slope's interval below -`min_slope`)."""

    min_slope: float = 0.0
    x_name: str = "x"

    def text(self) -> str:
        return (
            f"held if the 95% interval of the slope over {self.x_name} lies below "
            f"{-self.min_slope if self.min_slope else 0:g}; not held if above; else inconclusive"
        )

    def decide(self, est: Estimate) -> str:
        mirrored = Estimate(
            -est.mean,
            None if est.high is None else -est.high,
            None if est.low is None else -est.low,
            est.n_seeds,
        )
        return Greater(self.min_slope).decide(mirrored)


Rule = Greater | Equivalent | Rises | Falls


@dataclass(frozen=True)
class Claim:
    """A paper's claim as data, fixed before the run: what it says and the rule that decides it.

    `paper` is the paper's figure or stated direction; `figure` names the quantity the estimate
    measures (e.g. "OOD accuracy, MMCL - SL").
    """

    id: str
    statement: str
    paper: str
    figure: str
    rule: Rule

    def decide(self, est: Estimate, digits: int = 3, detail: str = "") -> dict:
        """The claim's JSON row: verdict, interval, n_seeds and the rule, with `ours` as text."""
        ours = f"{self.figure}: {est.text(digits)}"
        if detail:
            ours = f"{ours}; {detail}"
        return {
            "id": self.id,
            "statement": self.statement,
            "paper": self.paper,
            "ours": ours,
            "verdict": self.rule.decide(est),
            "estimate": est.mean,
            "interval": est.interval,
            "n_seeds": est.n_seeds,
            "per_seed": list(est.per_seed),
            "rule": self.rule.text(),
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


def verdict_counts(claims: Sequence[dict]) -> dict[str, int]:
    """How many claims got each verdict, in `VERDICTS` order."""
    return {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}
