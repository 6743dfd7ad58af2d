"""One rank of the resampled-SimCLR DDP check: its shard of a fixed global batch per variant.

Run as `python -m torch.distributed.run --nproc-per-node W resampling_ddp_worker.py OUT_DIR`;
each rank writes `OUT_DIR/rank{r}.pt` with, per case, its local loss and its DDP-averaged
gradients. The test imports `loss_and_grads` for the single-process reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmcl.losses.resampled import neighbour_ntxent, resampled_ntxent
from mmcl.resampling import ResamplingConfig

GLOBAL_BATCH, D_IN, D_OUT, D_TEACHER, TAU = 8, 6, 4, 5, 0.2
CASES = {
    "plain": {},
    "new_positive": {"new_positive_ratio": 1.0},
    "new_positive_half": {"new_positive_ratio": 0.5},
    "easy_negative": {"easy_negative_ratio": 0.3},
    "false_negative": {"false_negative_ratio": 0.2},
    "false_positive": {"false_positive_ratio": 0.25},  # 2 of 8 pairs: ranks keep unequal counts
    "combined": {"new_positive_ratio": 1.0, "false_positive_ratio": 0.4},
    "neighbour_index": None,
}


def global_batch() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    x = [torch.randn(GLOBAL_BATCH, D_IN, generator=g, dtype=torch.float64) for _ in range(3)]
    c = [torch.randn(GLOBAL_BATCH, D_TEACHER, generator=g) for _ in range(2)]
    return (*x, *c)


def student() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(D_IN, D_OUT).double()


def loss_and_grads(case: str, model: nn.Module, rows: slice) -> tuple[float, dict]:
    x1, x2, x_nb, c1, c2 = (t[rows] for t in global_batch())
    if CASES[case] is None:
        loss = neighbour_ntxent(model(x1), model(x2), model(x_nb), TAU)
    else:
        cfg = ResamplingConfig(teacher="random_projection", **CASES[case])
        loss, _, _ = resampled_ntxent(model(x1), model(x2), c1, c2, cfg, TAU)
    loss.backward()
    params = getattr(model, "module", model).named_parameters()
    return loss.item(), {n: p.grad.clone() for n, p in params}


def main(out_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = GLOBAL_BATCH // world
    rows = slice(rank * local, (rank + 1) * local)
    results = {}
    for case in CASES:
        results[case] = loss_and_grads(case, DistributedDataParallel(student()), rows)
    torch.save(results, out_dir / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
