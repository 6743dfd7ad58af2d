"""The zhang2023 checks: records, claims computed from the numbers, predictions that must hold."""

from __future__ import annotations

import copy
import json

import pytest

from mmcl.errors import MMCLError
from mmcl.experiments import zhang_theory as zt

FAST = zt.TheoryScale(
    fit_steps=400,
    noise_levels=(0.0, 0.3, 0.6),
    sharing_levels=(0.0, 0.5, 1.0),
    overlaps=(0.0, 0.05),
    random_worlds=6,
)
# Theorems and spec 5.1-4 predictions that a correct implementation must reproduce here.
MUST_HOLD = {
    "identity",
    "sigma_1",
    "optimum_loss",
    "optimum_subspace",
    "unification_subspace",
    "unification_probe",
    "induced_graph",
    "noise_direction",
    "sharing_direction",
    "mmcl_vs_sscl_connectivity",
    "alpha_inequality",
    "bound_valid",
}


@pytest.fixture(scope="module")
def results():
    return zt.run_all(FAST, seed=0)


def _held(results: dict) -> dict[str, bool]:
    return {row["id"]: row["held"] for row in zt.claims(results)}


def test_claim_rows(results):
    rows = zt.claims(results)
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"id", "statement", "paper", "ours", "held"}
        assert isinstance(row["held"], bool)
    json.dumps(results)  # plain, serialisable records


def test_predictions_hold(results):
    held = _held(results)
    assert set(held) >= MUST_HOLD
    assert {name for name in MUST_HOLD if not held[name]} == set()


def test_held_follows_the_numbers(results):
    broken = copy.deepcopy(results)
    broken["identity"]["identity_residual"] = 1e-3
    broken["optimum"]["minibatch"]["min_cosine"] = 0.5
    broken["bound"]["noise_sweep"].reverse()
    broken["bound"]["alpha_inequality"]["max_ratio"] = 1.01
    held = _held(broken)
    for name in ("identity", "optimum_subspace", "noise_direction", "alpha_inequality"):
        assert not held[name], name


def test_unknown_scale():
    with pytest.raises(MMCLError, match="huge"):
        zt.resolve_scale("huge")
