"""Each fang2022 claim's precondition: what its own arms and the testbed must show before the
claim can be answered here, fixed before the run and never reading a compared difference.

- The arms learn the task: a ΔER between models that never learned the shape compares two
  readings of the background. Each arm's ID accuracy lies above `LEARNED_TIMES_CHANCE` x chance
  (the lab's shared bar, `mmcl.experiments.calibrated`), judged on the lower end of its 95%
  interval over seeds (test-sample error included, as the shared `supervised_learns`).
- The line covers the arms: ER is a distance from the testbed's line, so an arm outside the
  fitted testbed's ID range is an extrapolation and a line with few models near the arms is
  pinned down elsewhere. Every seed's ID accuracy lies inside the fitted range (to within
  `reach`: one config's seeds scatter about the testbed's seed-0 copy of it), and at least
  `span_points` fitted testbed models lie within `span_pad` of the arms' ID range
  (configs/fang2022/claims.yaml, section `preconditions`).
F0 (the line itself) takes the second rule over every cause model the line judges.

Inputs are the claims' raw results (`claims` docstring) plus `chance` (1 / classes) and
`testbed`: {"labels", "id", "fitted"}, one entry per testbed model (`runner.raw_results`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmcl import stats
from mmcl.experiments.calibrated import LEARNED_TIMES_CHANCE


@dataclass(frozen=True)
class SpanRule:
    """How densely the fitted testbed must cover the judged models' ID range."""

    points: int  # fitted testbed models needed within `pad` of the judged range
    pad: float  # ID accuracy (fraction) added on each side of the judged range
    reach: float  # how far (ID accuracy) a judged model may lie outside the fitted range


def _learns(raw: dict, role: str) -> tuple[bool, str]:
    """Whether one arm's ID accuracy is above the bar (lower end of its 95% interval)."""
    bar = LEARNED_TIMES_CHANCE * raw["chance"]
    ids = np.asarray(raw["points"][role]["id"], dtype=float)
    test_se = np.sqrt(ids * (1 - ids) / raw["n_test"])
    met, est = stats.lower_end_above(ids, test_se, bar, test=stats.SHARED)
    low = "?" if est.low is None else f"{est.low:.1%}"
    return met, f"{role} ID {est.mean:.1%} (low {low})"


def _span(raw: dict, roles: Sequence[str], rule: SpanRule) -> tuple[bool, str]:
    """Whether the fitted testbed covers every seed of `roles` (module docstring)."""
    judged = np.concatenate([np.asarray(raw["points"][r]["id"], dtype=float) for r in roles])
    bed = raw["testbed"]
    fitted = np.asarray([x for x, f in zip(bed["id"], bed["fitted"], strict=True) if f], float)
    lo, hi = float(judged.min()), float(judged.max())
    if fitted.size == 0:
        return False, f"no fitted testbed model; judged ID {lo:.1%}-{hi:.1%}"
    near = int(np.sum((fitted >= lo - rule.pad) & (fitted <= hi + rule.pad)))
    inside = fitted.min() - rule.reach <= lo and hi <= fitted.max() + rule.reach
    met = inside and near >= rule.points
    return met, (
        f"fitted testbed ({fitted.size} of {len(bed['id'])} models) ID "
        f"{fitted.min():.1%}-{fitted.max():.1%}; judged ID {lo:.1%}-{hi:.1%}, "
        f"{near} testbed models within {rule.pad:.0%} of it"
    )


def _span_text(rule: SpanRule) -> str:
    return (
        "the line covers them: every seed's ID accuracy lies inside the fitted testbed's ID "
        f"range (to within {rule.reach:.0%}), with >= {rule.points} fitted testbed models within "
        f"{rule.pad:.0%} of their ID range"
    )


def comparison_precondition(
    raw: dict, treatment: str, control: str, rule: SpanRule
) -> dict[str, str]:
    """A ΔER claim's precondition: both arms learn the task and the line covers them."""
    bar = LEARNED_TIMES_CHANCE * raw["chance"]
    text = (
        f"both arms learn the task: each one's ID accuracy lies above {bar:.0%} "
        f"({LEARNED_TIMES_CHANCE:g}x chance, {raw['chance']:.0%}), the lower end of its 95% "
        f"interval over seeds; and {_span_text(rule)}"
    )
    learned = [_learns(raw, role) for role in dict.fromkeys((treatment, control))]
    covered, span_evidence = _span(raw, (treatment, control), rule)
    met = all(ok for ok, _ in learned) and covered
    evidence = "; ".join([*(e for _, e in learned), span_evidence])
    return stats.Precondition(text).result(met, evidence)


def line_precondition(raw: dict, roles: Sequence[str], rule: SpanRule) -> dict[str, str]:
    """F0's precondition: the testbed spans every cause model the line judges."""
    text = f"the cause models the line judges ({len(roles)} roles, every seed): {_span_text(rule)}"
    met, evidence = _span(raw, roles, rule)
    return stats.Precondition(text).result(met, evidence)


__all__ = ["SpanRule", "comparison_precondition", "line_precondition"]
