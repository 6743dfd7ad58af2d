"""zhang2023 finite worlds: the checks pass on real records and fail on broken ones; the direction
records and the matched MMCL/SSCL worlds are what the claims expect."""

from __future__ import annotations

import copy
import json
import math

import pytest

from mmcl.errors import MMCLError
from mmcl.experiments.zhang2023 import checks, claims
from mmcl.experiments.zhang2023 import theory as zt
from mmcl.stats import HELD, PER_SEED
from mmcl.theory import spectral as sp

FAST = zt.TheoryScale(
    fit_steps=400,
    noise_levels=(0.0, 0.3, 0.6),
    sharing_levels=(0.0, 0.5, 1.0),
    random_worlds=6,
)


@pytest.fixture(scope="module")
def records():
    return zt.check_records(FAST, seed=0)


def _passed(r: dict) -> dict[str, bool]:
    return {row["id"]: row["passed"] for row in checks.theory_checks(r)}


def test_every_check_passes(records):
    json.dumps(records)  # plain, serialisable records
    rows = checks.theory_checks(records)
    assert [row["id"] for row in rows] == list(checks.CHECKS)
    assert all(row["passed"] for row in rows), [r for r in rows if not r["passed"]]


def test_checks_follow_the_numbers(records):
    broken = copy.deepcopy(records)
    broken["identity"]["identity_residual"] = 1e-3
    broken["optimum"]["minibatch"]["min_cosine"] = 0.5
    broken["alpha_inequality"]["max_ratio"] = 1.01
    broken["bound_points"].append({"probe_error": 0.5, "bound": 0.4})
    broken["matched_probe_errors"].append(0.04)
    passed = _passed(broken)
    for name in ("identity", "optimum_subspace", "alpha_inequality", "bound_valid",
                 "matched_probe_exact"):  # fmt: skip
        assert not passed[name], name
    assert passed["sigma_1"] and passed["induced_graph"]


def test_matched_probe_check_needs_matched_worlds(records):
    assert records["matched_probe_errors"] and max(records["matched_probe_errors"]) == 0.0
    empty = {**records, "matched_probe_errors": []}
    assert not _passed(empty)["matched_probe_exact"]


def test_bound_check_needs_a_non_vacuous_bound():
    assert checks.bound_violation([{"probe_error": 0.9, "bound": 3.0}]) == (math.inf, 0)
    assert checks.bound_violation([{"probe_error": 0.1, "bound": 0.5}]) == (-0.4, 1)


def test_matched_worlds_share_the_labeling_error():
    record = zt.direction_record(FAST, seed=1)
    assert len(record["matched"]) == len(FAST.matched_noise) * len(FAST.overlaps)
    for row in record["matched"]:
        assert row["matched"], row
        assert row["sscl"]["alpha_pseudo"] == pytest.approx(row["mmcl"]["alpha_pseudo"], rel=1e-5)
        assert row["mmcl"]["bound"] < 1  # noise <= 0.03 keeps MMCL's bound non-vacuous


def test_the_overlap_label_noise_moves_the_sscl_labeling_error():
    base = zt._world(FAST, 0, noise=0.0)
    alphas = [zt._sscl_alpha(base, FAST, 0.2, cross, 0)[1] for cross in (0.0, 0.5, 1.0)]
    assert alphas[0] == pytest.approx(0.0, abs=1e-12) and alphas[0] < alphas[1] < alphas[2]
    world, cross = zt.matched_sscl_world(base, FAST, 0.2, alphas[1], 0)
    assert cross == pytest.approx(0.5, abs=1e-9)
    assert sp.pseudo_labeling_error(world.P, world.image_labels) == pytest.approx(alphas[1])


def test_direction_claims_on_three_real_worlds():
    rows = {r["id"]: r for r in claims.theory_claims([zt.direction_record(FAST, s)
                                                      for s in range(3)])}  # fmt: skip
    assert set(rows) == set(claims.THEORY)
    assert rows["mmcl_vs_sscl_connectivity"]["verdict"] == HELD
    assert all(r["n_seeds"] == 3 and r["test"] == PER_SEED for r in rows.values())
    assert not any(r["exact"] for r in rows.values())  # each seed its own world: a spread


def test_unknown_scale():
    with pytest.raises(MMCLError, match="huge"):
        zt.resolve_scale("huge")
