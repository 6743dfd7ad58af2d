"""Process-group set-up under torchrun: gloo on CPU, NCCL on GPU; a no-op for one process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from mmcl.distributed import Shards
from mmcl.errors import MMCLError


@dataclass
class Runtime:
    """Where this process runs and which part of the world it is."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def choose_device(name: str, local_rank: int) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise MMCLError("train.device=cuda but no CUDA device is visible; use train.device=cpu")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup_runtime(device: str) -> Runtime:
    """Join the torchrun process group when launched by torchrun, else run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    runtime_device = choose_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if runtime_device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Runtime(runtime_device, rank, world_size, local_rank)


def gather_objects(value: Any, runtime: Runtime) -> list[Any]:
    """Every rank's `value` (picklable), in rank order, on every rank; [value] when alone."""
    if not dist.is_initialized():
        return [value]
    return Shards(runtime.rank, runtime.world_size).gather(value)


def teardown_runtime() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
