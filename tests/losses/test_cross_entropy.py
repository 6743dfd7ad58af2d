"""CrossEntropyLoss wrapper against a loop reference with label smoothing."""

from __future__ import annotations

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.losses import CrossEntropyLoss


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_matches_loop_reference(smoothing):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 2])
    total = 0.0
    for row, y in zip(logits, labels.tolist(), strict=True):
        log_p = row - torch.log(torch.exp(row).sum())
        target = torch.full((3,), smoothing / 3, dtype=torch.float64)
        target[y] += 1.0 - smoothing
        total = total - (target * log_p).sum()
    ours = CrossEntropyLoss(label_smoothing=smoothing)(logits, labels, extra="ignored")
    torch.testing.assert_close(ours, total / 4)


def test_bad_smoothing_is_a_user_error():
    with pytest.raises(MMCLError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)
