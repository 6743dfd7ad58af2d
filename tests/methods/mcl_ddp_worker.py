"""Run under torch.distributed.run: each rank computes MCL's group-masked CLIP loss on its shard.

Saves the rank's loss and the gradients of the *global* features it contributed, so the test can
compare with one process on the whole batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from mmcl.losses import ClipLoss

GLOBAL, DIM = 8, 6


def global_batch():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(GLOBAL, DIM, generator=g)
    texts = torch.randn(GLOBAL, DIM, generator=g)
    groups = torch.tensor([0, 1, 0, 1, 1, 0, 2, 2])
    return images, texts, groups


def main(out_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    images, texts, groups = global_batch()
    images.requires_grad_(True)
    texts.requires_grad_(True)
    local = slice(rank * GLOBAL // world, (rank + 1) * GLOBAL // world)
    loss = ClipLoss()(
        F.normalize(images[local], dim=-1),
        F.normalize(texts[local], dim=-1),
        torch.tensor(10.0),
        groups=groups[local],
    )
    loss.backward()
    torch.save(
        {"loss": loss.detach(), "images": images.grad, "texts": texts.grad},
        out_dir / f"rank{rank}.pt",
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
