"""The learning-rate schedule: linear warm-up then cosine, as a pure function of the step."""

from __future__ import annotations

import math

from mmcl.train.schedule import learning_rate


def test_warmup_rises_linearly_then_cosine_decays_to_the_floor():
    lrs = [learning_rate(s, 1.0, warmup=4, total=20, min_ratio=0.1) for s in range(20)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    middle = 4 + (20 - 4) // 2
    assert math.isclose(lrs[middle], 0.1 + 0.9 * 0.5, rel_tol=1e-9)
    assert math.isclose(learning_rate(20, 1.0, 4, 20, 0.1), 0.1)
