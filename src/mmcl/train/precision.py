"""Choosing bf16 autocast where it is measured faster, fp32 elsewhere.

bf16 is the fast path on GPUs and on CPUs with AMX / AVX-512 BF16, but on CPUs without them
PyTorch falls back to a reference bf16 kernel that can be hundreds of times slower than fp32.
So `precision=auto` times one small matmul both ways on the device and keeps the faster.
"""

from __future__ import annotations

import contextlib
import functools
import time

import torch


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


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' or 'fp32' for this device; explicit choices pass through."""
    if precision != "auto":
        return precision
    return "bf16" if bf16_is_faster(device.type) else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast context for `precision == 'bf16'`, otherwise a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
