"""The batch sampler: rank shards are disjoint, epochs differ, resuming replays the same order."""

from __future__ import annotations

import pytest

from mmcl.errors import MMCLError
from mmcl.train.sampler import ResumableBatchSampler


def test_ranks_see_disjoint_samples_and_cover_the_kept_epoch():
    n, batch, world = 103, 8, 2
    seen = []
    for rank in range(world):
        for indices in ResumableBatchSampler(n, batch, seed=3, rank=rank, world_size=world):
            assert len(indices) == batch // world
            seen += indices
    assert len(seen) == len(set(seen)) == (n // batch) * batch


def test_epochs_shuffle_differently_and_deterministically():
    sampler = ResumableBatchSampler(64, 8, seed=1)
    first = list(sampler)
    sampler.set_position(1, 0)
    second = list(sampler)
    assert first != second
    sampler.set_position(0, 0)
    assert list(sampler) == first


def test_resuming_mid_epoch_yields_the_remaining_batches():
    sampler = ResumableBatchSampler(64, 8, seed=1)
    full = list(sampler)
    sampler.set_position(0, 3)
    assert list(sampler) == full[3:]


def test_batch_larger_than_data_or_not_divisible_is_an_error():
    with pytest.raises(MMCLError, match="larger than"):
        ResumableBatchSampler(10, 16, seed=0)
    with pytest.raises(MMCLError, match="divisible"):
        ResumableBatchSampler(100, 10, seed=0, world_size=3)
