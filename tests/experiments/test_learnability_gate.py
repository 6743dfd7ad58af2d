"""Gate (b): in the calibrated world and budget, a supervised model learns the shape."""

from __future__ import annotations

from mmcl.experiments.calibrated import BUDGET, LEARNABLE_ACCURACY, learnability_gate


def test_supervised_learns_the_shape_on_the_uncorrelated_world_within_the_demo_budget(
    tmp_path, world_cache, monkeypatch
):
    monkeypatch.setenv("MMCL_CACHE", world_cache)
    # one process per seed: 3 one-thread runs on 2 cores end in 1.5 run-lengths, not 2
    gate = learnability_gate(tmp_path / "gate", jobs=3)
    assert len(gate["per_seed"]) == 3
    assert gate["mean"] >= LEARNABLE_ACCURACY, gate
    assert gate["passed"]
    assert gate["budget"] == list(BUDGET)
