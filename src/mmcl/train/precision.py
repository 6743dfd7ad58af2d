"""Choosing bf16 autocast where it is measured faster, fp32 elsewhere.

bf16 is the fast path on GPUs and on CPUs with AMX / AVX-512 BF16, but on CPUs without them
PyTorch falls back to a reference bf16 kernel that can be hundreds of times slower than fp32.
So `precision=auto` times one small matmul both ways on the device and keeps the faster.

Except under DDP on CPUs, where `auto` is fp32 without timing: there a 2-process bf16 run
differed from one process on the same global batch by up to 0.012 in loss and 0.8 points in
results, while fp32 agrees to 1e-7 (tests/train/test_ddp_equals_one_process.py), and "runs under
torchrun unchanged" should mean the same numbers. Timing per rank could also let two ranks
choose differently. An explicit `train.precision=bf16` there is kept, with a warning.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time

import torch

log = logging.getLogger(__name__)


@functools.cache
def bf16_is_faster(device_type: str) -> bool:
    """True if a 256x256 bf16 matmul beats fp32 by 20% on this device (measured once)."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    a = torch.randn(256, 256)

    def seconds(x: torch.Tensor) -> float:
        """The best of 5 timings of 3 matmuls: one timing alone is noise-bound at this size
        (two processes starting side by side chose differently on an AVX-512 BF16 CPU)."""
        x @ x  # warm-up
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(3):
                x @ x
            timings.append(time.perf_counter() - start)
        return min(timings)

    return seconds(a.bfloat16()) * 1.2 < seconds(a)


def resolve_precision(precision: str, device: torch.device, world_size: int = 1) -> str:
    """'auto' -> 'bf16' or 'fp32' for this device and number of processes; explicit choices
    pass through (bf16 under CPU DDP with a warning: see the module docstring)."""
    cpu_ddp = device.type == "cpu" and world_size > 1
    if precision == "auto" and cpu_ddp:
        log.info(
            "train.precision=auto: fp32, as %d CPU processes in bf16 would not match one process",
            world_size,
        )
        return "fp32"
    if precision == "auto":
        return "bf16" if bf16_is_faster(device.type) else "fp32"
    if precision == "bf16" and cpu_ddp:
        log.warning(
            "train.precision=bf16 on %d CPU processes: results differ from one process "
            "(by up to 0.012 in loss); train.precision=fp32 matches it",
            world_size,
        )
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast context for `precision == 'bf16'`, otherwise a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
