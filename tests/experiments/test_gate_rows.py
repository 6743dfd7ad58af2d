"""The gate as a check row, and claims made inconclusive by a failed gate."""

from __future__ import annotations

import pytest

from mmcl import stats, verdicts
from mmcl.experiments.calibrated import LEARNABLE_ACCURACY, gate_check, gate_overrides, ungated

CLAIM = stats.Claim("A", "a beats b", "a > b", "a - b", stats.Greater(0.0))


def gate(mean: float, attribute: str = "shape") -> dict:
    return {"attribute": attribute, "statement": "supervised learns it", "mean": mean,
            "per_seed": [mean] * 3, "interval": [mean - 0.01, mean + 0.01],
            "threshold": LEARNABLE_ACCURACY, "passed": mean >= LEARNABLE_ACCURACY}  # fmt: skip


def test_a_gate_is_a_check_whose_error_is_the_shortfall():
    passed, failed = gate_check(gate(0.9)), gate_check(gate(0.6, "texture"))
    assert passed["passed"] and passed["error"] == 0.0 and passed["id"] == "gate-shape"
    assert not failed["passed"] and failed["error"] == pytest.approx(LEARNABLE_ACCURACY - 0.6)
    assert "60.0%" in failed["detail"]


def test_a_failed_gate_is_the_claims_failed_precondition_and_says_why():
    held = [CLAIM.decide(stats.difference([0.9, 0.91, 0.92], [0.1, 0.1, 0.12], test="shared"))]
    assert held[0]["verdict"] == "held"
    assert ungated(held, []) == held  # no gate ran: nothing is reported as met
    (passed,) = ungated(held, [gate(0.9)])
    assert passed["verdict"] == "held" and passed["precondition"]["status"] == "met"
    (row,) = verdicts.decide_families(ungated(held, [gate(0.9), gate(0.5, "texture")]))
    assert row["verdict"] == row["raw_verdict"] == "inconclusive"
    assert (
        row["precondition"]["status"] == "failed"
        and "texture 50.0%" in row["precondition"]["evidence"]
    )
    assert row["why"].startswith(
        "not answerable here: the precondition failed: learnability gate (shape, texture)"
    )


def test_the_gate_keeps_the_world_and_budget_but_not_the_method_or_evaluation():
    paper = ["data.shapes.canvas=grey", "train.steps=80", "method.name=simclr",
             "method.augment=weak_color", "eval.tasks=[attributes]"]  # fmt: skip
    gated = gate_overrides(paper, "color")
    assert gated[:2] == paper[:2] and not any("simclr" in o or "weak" in o for o in gated)
    assert gated[-2:] == ["data.shapes.spurious_strength=0.1", "data.shapes.label=color"]
    assert "method.name=supervised" in gated
