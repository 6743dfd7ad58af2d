"""Each paper's `tiny` image runs pass the learnability gate at their own world and budget.

Slow (about 5 minutes: 3 seeds per gate, 6 gates); the demo's gate, which xue2024's tiny image
runs share, is in the default suite (`test_learnability_gate`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mmcl.experiments.calibrated import learnability_gate
from mmcl.experiments.fang2022 import scales as fang_scales
from mmcl.experiments.fang2022.testbed import gate_budget as fang_budget
from mmcl.experiments.mcl2024.claims import TRIFEATURE
from mmcl.experiments.mcl2024.scales import gate_budget as mcl_budget
from mmcl.experiments.mcl2024.scales import get_scale as mcl_scale
from mmcl.experiments.xue2024.images import gate_budget as xue_budget
from mmcl.experiments.zhang2023 import scales as zhang_scales

pytestmark = pytest.mark.slow


def zhang_budget() -> list[str]:
    plan = zhang_scales.grid_plan(zhang_scales.resolve("tiny"), None, Path("unused"))
    return zhang_scales.gate_budget(plan)


GATES = {
    "xue2024": (lambda: xue_budget("tiny"), "shape"),
    "fang2022": (lambda: fang_budget(fang_scales.get_scale("tiny")), "shape"),
    "zhang2023": (zhang_budget, "shape"),
    **{
        f"mcl2024-{attribute}": (lambda: mcl_budget(mcl_scale("tiny")), attribute)
        for attribute in TRIFEATURE
    },
}


@pytest.mark.parametrize("name", list(GATES))
def test_tiny_budget_passes_the_learnability_gate(name, tmp_path, world_cache, monkeypatch):
    monkeypatch.setenv("MMCL_CACHE", world_cache)
    budget, attribute = GATES[name]
    gate = learnability_gate(tmp_path, budget=budget(), attribute=attribute)
    assert gate["passed"], gate
