"""Gate (b): in the calibrated world and budget, a supervised model learns the shape."""

from __future__ import annotations

import pytest

from mmcl.experiments.calibrated import BUDGET, LEARNABLE_ACCURACY, learnability_gate


# 3 runs at the demo's full budget (~100 s on 2 cores): out of the default run. `mmcl demo`, the
# README's first command, runs this same gate and answers no prediction when it fails.
@pytest.mark.slow
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


def test_each_world_gates_its_own_class_with_its_own_bar():
    from mmcl.experiments import calibrated

    assert calibrated.world_of(BUDGET) == "shapes"
    shapes = calibrated.gate_overrides(BUDGET, "shape")
    assert "data.shapes.label=shape" in shapes  # as before the fashion world existed
    fashion_budget = [*BUDGET, *calibrated.WORLD_GATES["fashion"].overrides]
    assert calibrated.world_of(fashion_budget) == "fashion"
    fashion = calibrated.gate_overrides(fashion_budget, "item")
    assert not [o for o in fashion if "label=" in o]  # the item is fashion's own label
    assert "data.world_options.label=color" in calibrated.gate_overrides(fashion_budget, "color")
    assert calibrated.WORLD_GATES["fashion"].accuracy > calibrated.LEARNABLE_ACCURACY
    assert set(calibrated.WORLD_GATES) == {"shapes", "fashion"}
