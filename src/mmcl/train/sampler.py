"""A resumable, rank-sharded batch sampler with deterministic per-epoch shuffles.

The order of epoch e is a permutation drawn from (seed, e) alone, so a resumed run replays
exactly the batches an uninterrupted run would see; each rank takes a disjoint slice of every
global batch, so no sample is seen twice per epoch (the remainder is dropped: equal shapes on
every rank are what the global-batch loss needs).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from mmcl.errors import MMCLError


class ResumableBatchSampler:
    def __init__(
        self, n: int, global_batch: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if global_batch % world_size:
            raise MMCLError(
                f"train.batch_size={global_batch} must be divisible by the {world_size} processes"
            )
        if n < global_batch:
            raise MMCLError(
                f"train.batch_size={global_batch} is larger than the {n} training samples"
            )
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        return self.n // self.global_batch

    def set_position(self, epoch: int, batch_in_epoch: int) -> None:
        self.epoch, self.start_batch = epoch, batch_in_epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=generator)
        local = self.global_batch // self.world_size
        for b in range(self.start_batch, len(self)):
            chunk = order[b * self.global_batch : (b + 1) * self.global_batch]
            yield chunk[self.rank * local : (self.rank + 1) * local].tolist()
