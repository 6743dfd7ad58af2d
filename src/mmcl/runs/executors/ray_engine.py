"""The `ray` engine: one Ray task per run, gathered with `ray.wait` so `on_done` fires as each
run ends; a task whose worker dies is retried by Ray and resumes from its checkpoint."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from mmcl.config import check_range
from mmcl.errors import MMCLError
from mmcl.runs.executors.base import EXECUTORS, require, run_quietly
from mmcl.runs.executors.progress import Failure, Progress, Runs, first_line


@dataclass
class RayOptions:
    # "": start a Ray on this machine for the call (`jobs` x num_cpus CPUs) and shut it down
    # after; otherwise `ray.init(address=...)`: auto, ray://head:10001, ...
    address: str = ""
    num_cpus: int = 1  # CPUs Ray reserves per run, and its torch threads (1: as local workers)
    # A run whose worker dies (killed, OOM, lost node) is started again this many times and
    # resumes from its checkpoint; an exception raised by the run itself is not retried.
    max_retries: int = 2

    def validate(self) -> None:
        check_range("num_cpus", self.num_cpus, 1, 1024)
        check_range("max_retries", self.max_retries, 0, 100)


@EXECUTORS.register("ray")
class RayExecutor:
    """Ray tasks, one per run. A Ray already connected in this process (a notebook, a test) is
    used as it is and left running; otherwise this call connects (or starts one) and shuts down.
    On a cluster the workers need mmcl installed and the run folders on a shared file system."""

    Options = RayOptions

    def __init__(self, options: RayOptions) -> None:
        self.options = options

    @staticmethod
    def check(options: RayOptions) -> None:
        require("ray")

    def map(self, runs: Runs) -> list:
        if not runs.calls:
            return []
        ray, o = require("ray"), self.options
        with self.session(ray, runs.jobs):
            # retry_exceptions=False: Ray retries a task whose worker died (max_retries); an
            # exception the run raises itself would only be raised again, so it is not retried.
            task = ray.remote(run_quietly).options(
                num_cpus=o.num_cpus, max_retries=o.max_retries, retry_exceptions=False
            )
            cwd = os.getcwd()
            refs = {
                task.remote(runs.fn, o.num_cpus, args, cwd): k for k, args in enumerate(runs.calls)
            }
            slots = max(1, int(ray.cluster_resources().get("CPU", 1) // o.num_cpus))
            progress, pending = Progress(runs), list(refs)
            try:
                while pending:
                    progress.show(running=min(len(pending), slots))  # Ray's queue is hidden
                    ready, pending = ray.wait(pending, num_returns=1)
                    for ref in ready:
                        self.collect(ray, ref, refs[ref], progress)
            finally:
                for ref in pending:  # the driver is stopping (an error, Ctrl-C): no orphans
                    ray.cancel(ref, force=True)
            progress.show(running=0)
            return progress.finish()

    @staticmethod
    def collect(ray: ModuleType, ref: Any, index: int, progress: Progress) -> None:
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as error:
            progress.failed(ray_failure(ray, error, index))
            return
        progress.succeeded(index, result)

    @contextlib.contextmanager
    def session(self, ray: ModuleType, jobs: int) -> Iterator[None]:
        if ray.is_initialized():
            yield
            return
        address = self.options.address
        try:
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                # A Ray for this call only, with room for `jobs` runs (as many as the local
                # executor trains at a time); its node talks over loopback, so it starts on a
                # machine without a network. (Ray still listens on every interface; its
                # token authentication guards those ports.)
                ray.init(
                    num_cpus=jobs * self.options.num_cpus,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    _node_ip_address="127.0.0.1",
                )
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray at address={address!r}" if address else "a local Ray"
            raise MMCLError(
                f"the ray executor could not start {where}: {first_line(error)}"
            ) from error
        try:
            yield
        finally:
            ray.shutdown()


def ray_logs_dir(ray: ModuleType) -> str:
    """The session's log folder (the same path on every node of the cluster)."""
    try:
        return ray._private.worker.global_worker.node.get_logs_dir_path()
    except AttributeError:  # Ray Client (ray://): the driver holds no node; Ray's default root
        return os.path.join(tempfile.gettempdir(), "ray", "session_latest", "logs")


def ray_failure(ray: ModuleType, error: Exception, index: int) -> Failure:
    """The run's own error (a RayTaskError carries it as `cause`) or Ray's (a dead worker), with
    the worker's log file when Ray names its process."""
    own = isinstance(error, ray.exceptions.RayTaskError) and error.cause is not None
    original = error.cause if own else error
    logs = ray_logs_dir(ray)
    # The error Ray raises is an instance of the run's own error type, without the task's pid
    # and ip; its text names them: "ray::run_quietly() (pid=123, ip=10.0.0.2)".
    worker = re.search(r"pid=(\d+), ip=([^\s,)]+)", str(error))
    if worker:
        where = f"{logs}/worker-*-{worker[1]}.err on {worker[2]}"
    else:  # the worker died: Ray's own logs say why
        where = f"{logs} (python-core-worker-*.log, raylet.out)"
    return Failure(index, type(original).__name__, first_line(original), where)
