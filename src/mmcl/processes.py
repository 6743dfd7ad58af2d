"""Independent runs (sweep points, testbed models) trained side by side in worker processes.

Small convolutions on a 2-core CPU use two single-threaded processes better than one process
with two threads. Workers are spawned, not forked, so none inherits the parent's torch thread
pools; they log only warnings, and the parent reports progress. A worker exits when its driver is
gone (killed by SIGTERM or SIGKILL), so no orphan goes on training; its run resumes from its last
checkpoint when the driver is started again.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

R = TypeVar("R")
PARENT_POLL_S = 1.0  # how often a worker checks that its driver is alive
OnDone = Callable[[int, int, Any], None]  # (runs done so far, index of this run, its result)


def map_in_processes(
    fn: Callable[..., R], calls: Sequence[tuple], jobs: int, on_done: OnDone | None = None
) -> list[R]:
    """`fn(*args)` for every tuple in `calls`, `jobs` at a time; results in the order of `calls`.

    `fn` must be a module-level function and its arguments picklable. With `jobs <= 1` (or a
    single call) everything runs here, in order, with logging left on.
    """
    if jobs <= 1 or len(calls) <= 1:
        results = []
        for index, args in enumerate(calls):
            results.append(fn(*args))
            if on_done is not None:
                on_done(index + 1, index, results[-1])
        return results
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures = {pool.submit(_quiet, fn, args): k for k, args in enumerate(calls)}
        done: dict[int, R] = {}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            done[index] = future.result()
            if on_done is not None:
                on_done(len(done), index, done[index])
    return [done[k] for k in range(len(calls))]


def _quiet(fn: Callable[..., R], args: tuple) -> R:
    """A worker's entry point: warnings and errors only."""
    logging.disable(logging.INFO)
    return fn(*args)


def _die_with_parent(parent: int) -> None:
    """A worker's initializer: a daemon thread that ends the worker once `parent` (the driver)
    is gone. Without it a killed driver leaves its spawned workers training on, unseen."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # no cleanup to run: every file a run writes is written atomically

    threading.Thread(target=watch, name="mmcl-parent-watch", daemon=True).start()
