"""One rank of the DDP check in test_ddp.py: its shard of a fixed global batch through each loss.

Run as `python -m torch.distributed.run --nproc-per-node W ddp_worker.py OUT_DIR`; each rank
writes `OUT_DIR/rank{r}.pt` with, per case, its local loss and its DDP-averaged parameter grads.
The test imports `Towers`, `global_batch` and `loss_and_grads` to compute the single-process
reference on the whole global batch.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mmcl.losses import LOSSES

GLOBAL_BATCH, D_IN, D_OUT = 8, 6, 4
# case name -> (registered loss, whether MCL groups restrict the negatives)
CASES = {
    "clip": ("clip", False),
    "siglip": ("siglip", False),
    "ntxent": ("ntxent", False),
    "ntxent_groups": ("ntxent", True),
    "spectral": ("spectral", False),
}


class Towers(nn.Module):
    """Two linear towers plus CLIP/SigLIP scale and bias, with a fixed initialisation."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Linear(D_IN, D_OUT)
        self.text = nn.Linear(D_IN, D_OUT)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.tensor(-2.0))
        self.double()

    def forward(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        return {
            "image_features": F.normalize(self.image(x), dim=-1),  # (B, D_OUT)
            "text_features": F.normalize(self.text(y), dim=-1),  # (B, D_OUT)
            "logit_scale": self.log_scale.exp(),
            # a copy, not the Parameter itself: DDP (find_unused_parameters) marks a Parameter
            # returned as an output ready twice
            "logit_bias": self.bias.clone(),
        }


def global_batch() -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(GLOBAL_BATCH, D_IN, generator=g, dtype=torch.float64)
    y = torch.randn(GLOBAL_BATCH, D_IN, generator=g, dtype=torch.float64)
    groups = torch.arange(GLOBAL_BATCH) % 3  # groups span ranks, so their gather matters
    return x, y, groups


def loss_and_grads(case: str, model: nn.Module, rows: slice) -> tuple[float, dict[str, Tensor]]:
    """Forward the `rows` of the global batch, backward, return loss and every parameter grad."""
    name, use_groups = CASES[case]
    x, y, groups = global_batch()
    out = model(x[rows], y[rows])
    loss_fn = LOSSES.get(name)()
    if name in ("ntxent", "spectral"):  # two unimodal views / the two spectral towers
        loss = loss_fn(
            out["image_features"], out["text_features"], groups=groups[rows] if use_groups else None
        )
    else:
        loss = loss_fn(**out)
    loss.backward()
    params = getattr(model, "module", model).named_parameters()  # unwrap DDP
    grads = {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for n, p in params}
    return loss.item(), grads


def main(out_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = GLOBAL_BATCH // world
    rows = slice(rank * local, (rank + 1) * local)
    results = {}
    for case in CASES:
        model = DistributedDataParallel(Towers(), find_unused_parameters=True)
        results[case] = loss_and_grads(case, model, rows)
    torch.save(results, out_dir / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
