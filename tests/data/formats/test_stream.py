"""Webdataset streaming: every sample once per epoch over ranks x workers, exact resume."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from mmcl.data.formats.webdataset_shards import index_shards, shard_paths
from mmcl.data.record_dataset import BatchEncoder
from mmcl.data.stream_dataset import ShardStream


def _stream(written, rank=0, world=1, workers=1, batch=4):
    shards = index_shards(shard_paths(str(written / "webdataset" / "train-{000000..000003}.tar")))
    return ShardStream(shards, BatchEncoder(32), batch, 3, rank, world, workers, buffer=5)


def _indices(stream, epoch, start=0, workers=0) -> list[list[int]]:
    stream.set_position(epoch, start)
    loader = DataLoader(stream, batch_size=None, num_workers=workers)
    return [loaded.batch.index.tolist() for loaded in loader]


def test_two_ranks_two_workers_see_every_sample_once_per_epoch(written):
    seen = []
    for rank in range(2):
        stream = _stream(written, rank, 2, workers=2)
        batches = _indices(stream, epoch=0, workers=2)
        assert len(batches) == len(stream) == 4  # 32 samples / (2 ranks x local batch 4)
        seen += [i for b in batches for i in b]
    assert sorted(seen) == list(range(32))


def test_epochs_reshuffle_and_resume_replays_the_same_batches(written):
    stream = _stream(written, workers=2)
    epoch1 = _indices(stream, epoch=1, workers=2)
    assert _indices(stream, epoch=0, workers=2) != epoch1
    assert sorted(i for b in epoch1 for i in b) == list(range(32))
    for start in (1, 3, 6):  # resume mid-epoch, on either worker
        assert _indices(stream, epoch=1, start=start, workers=2) == epoch1[start:]


def test_batches_decode_the_samples_they_name(written, world):
    stream = _stream(written)
    stream.set_position(0, 0)
    loaded = next(iter(stream))
    expected = world["train"].images[loaded.batch.index]
    assert torch.allclose(
        loaded.batch.images,
        BatchEncoder(32).encode(list(expected), [""] * 4, [0] * 4, [0] * 4).images,
    )
