"""Running a block of work with a chosen number of torch intra-op threads.

Small matrices (the theory worlds, Xue's vectors) and several jobs sharing 2 cores run much
faster on one thread each: thread hand-offs then cost more than the arithmetic (measured 30-40x
on a loaded 2-core machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use `n` torch threads inside the block (0 leaves the setting alone), then restore it."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
