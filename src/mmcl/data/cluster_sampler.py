"""MCL's cluster-homogeneous batches: every global batch is drawn from one pseudo-label group.

The paper's sampler (`MCL_batch_sampler_DDP`, spec mcl2024.md in the shared specs 1.3), per epoch:
permute each group, keep floor(n_c / (W*B)) global batches of it, then emit batches cycling over
the groups in order, so at each step the whole global batch (all W ranks' B samples) shares one
group and every in-batch negative shares the anchor's group.

Deliberate differences from the reference:
- Ranks take *disjoint* slices of each global batch (the reference's DDP sampler lets ranks
  overlap); the per-step group is the same on every rank because every rank computes the same
  global batch list from (seed, epoch).
- `small_groups="pool"` (default) keeps the samples the reference drops (groups smaller than
  W*B and every group's remainder): they are shuffled into mixed batches after the homogeneous
  ones, and the MCL loss masks other-group negatives there, so the invariant "negatives share
  the anchor's group" still holds. `small_groups="drop"` is the reference behaviour.
- Resumable like `ResumableBatchSampler`: the epoch's order is a function of (seed, epoch), and
  `set_position` skips the batches already consumed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from mmcl.errors import MMCLError

SMALL_GROUP_RULES = ("pool", "drop")


class ClusterBatchSampler:
    """Batch sampler over group ids (N,): one rank's share of each cluster-homogeneous batch."""

    def __init__(
        self,
        groups: np.ndarray | torch.Tensor,
        global_batch: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        small_groups: str = "pool",
    ) -> None:
        if global_batch % world_size:
            raise MMCLError(
                f"train.batch_size={global_batch} must be divisible by the {world_size} processes"
            )
        if small_groups not in SMALL_GROUP_RULES:
            raise MMCLError(
                f"method.mcl.small_groups = {small_groups!r}; valid: {', '.join(SMALL_GROUP_RULES)}"
            )
        self.groups = torch.as_tensor(np.asarray(groups), dtype=torch.long)
        self.global_batch, self.seed = global_batch, seed
        self.rank, self.world_size = rank, world_size
        self.small_groups = small_groups
        self.epoch, self.start_batch = 0, 0
        if len(self) == 0:
            raise MMCLError(
                f"no batch of train.batch_size={global_batch} fits the {len(self.groups)} "
                f"samples in {int(self.groups.max()) + 1} groups; lower train.batch_size or "
                "method.mcl.clusters, or set method.mcl.small_groups=pool"
            )

    def _sizes(self) -> torch.Tensor:
        return torch.bincount(self.groups)  # (G,)

    def __len__(self) -> int:
        sizes = self._sizes()
        homogeneous = int((sizes // self.global_batch).sum())
        if self.small_groups == "drop":
            return homogeneous
        leftover = int((sizes % self.global_batch).sum())
        return homogeneous + leftover // self.global_batch

    def set_position(self, epoch: int, batch_in_epoch: int) -> None:
        self.epoch, self.start_batch = epoch, batch_in_epoch

    def global_batches(self) -> list[torch.Tensor]:
        """Every global batch (W*B indices) of the current epoch, in emission order."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        b = self.global_batch
        per_group, leftover = [], []
        for group in range(len(self._sizes())):
            members = torch.nonzero(self.groups == group).flatten()
            members = members[torch.randperm(len(members), generator=g)]
            keep = len(members) // b * b
            per_group.append(list(members[:keep].split(b)) if keep else [])
            leftover.append(members[keep:])
        batches = []
        for step in range(max((len(chunks) for chunks in per_group), default=0)):
            batches += [chunks[step] for chunks in per_group if step < len(chunks)]  # cycle
        if self.small_groups == "pool":
            pool = torch.cat(leftover)
            pool = pool[torch.randperm(len(pool), generator=g)]
            if len(pool) >= b:
                batches += list(pool[: len(pool) // b * b].split(b))
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        local = self.global_batch // self.world_size
        for chunk in self.global_batches()[self.start_batch :]:
            yield chunk[self.rank * local : (self.rank + 1) * local].tolist()
