"""The `slurm` engine: submitit jobs, one job array per batch submitted, polled; a failed or
preempted job is submitted again up to `max_retries` times and resumes from its checkpoint.
`cluster=local` runs the same code on submitit's local executor (real subprocesses)."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from mmcl.config import check_choice, check_range
from mmcl.errors import MMCLError
from mmcl.runs.executors.base import EXECUTORS, require, run_quietly
from mmcl.runs.executors.progress import Failure, Progress, Runs, first_line

log = logging.getLogger("mmcl.runs.executors")

POLL_S = 1.0  # how often the driver looks at its jobs (submitit caches sacct itself)


SLURM_CLUSTERS = ("", "slurm", "local", "debug")  # "": submitit's auto-detection (Slurm)
LOCAL_CLUSTERS = ("local", "debug")  # run on this machine: the driver keeps `jobs` at a time


@dataclass
class SlurmOptions:
    folder: str = "runs/submitit"  # submitit's pickles and each job's logs (%j_%t_log.err)
    partition: str = ""  # "": the cluster's default partition
    time_min: int = 60  # each job's time limit; a run cut off resumes when resubmitted
    gpus_per_node: int = 0
    cpus_per_task: int = 1  # also the run's torch threads
    mem_gb: float = 0.0  # 0: the partition's default
    array_parallelism: int = 0  # array tasks running at a time; 0: the call's `jobs`
    max_retries: int = 2  # a failed or preempted job is submitted again this many times
    # "" or slurm: Slurm; local: submitit's local executor (real subprocesses on this machine);
    # debug: submitit's DebugExecutor (in this process, for tests and pdb)
    cluster: str = ""

    def validate(self) -> None:
        check_choice("cluster", self.cluster, SLURM_CLUSTERS)
        check_range("time_min", self.time_min, 1, None)
        check_range("gpus_per_node", self.gpus_per_node, 0, 64)
        check_range("cpus_per_task", self.cpus_per_task, 1, 1024)
        check_range("mem_gb", self.mem_gb, 0, None)
        check_range("array_parallelism", self.array_parallelism, 0, None)
        check_range("max_retries", self.max_retries, 0, 100)


@EXECUTORS.register("slurm")
class SlurmExecutor:
    """submitit jobs, one job array per batch submitted. On Slurm every run is submitted at
    once and `array_parallelism` bounds how many run; on `cluster=local|debug` the driver keeps
    that many in flight itself (submitit's local executor has no such bound). The jobs run in
    this Python environment on the cluster's nodes, so the run folders must be shared."""

    Options = SlurmOptions

    def __init__(self, options: SlurmOptions) -> None:
        self.options = options

    @staticmethod
    def check(options: SlurmOptions) -> None:
        require("submitit")
        if options.cluster in ("", "slurm") and shutil.which("sbatch") is None:
            raise MMCLError(
                "the slurm executor found no Slurm here (no sbatch on PATH): run on the "
                "cluster's login node, or try it on this machine with --executor-set cluster=local"
            )

    def map(self, runs: Runs) -> list:
        if not runs.calls:
            return []
        self.check(self.options)
        jobs = JobArrays(self.options, runs, self.executor(runs.jobs))
        try:
            while jobs.queue or jobs.running:
                jobs.submit()
                jobs.progress.show(running=len(jobs.running))
                if not jobs.settle():
                    time.sleep(POLL_S)
        finally:
            for job in jobs.running.values():  # the driver is stopping (an error, Ctrl-C)
                job.cancel(check=False)
        jobs.progress.show(running=0)
        return jobs.progress.finish()

    def executor(self, jobs: int) -> Any:
        o = self.options
        submitit = require("submitit")
        executor = submitit.AutoExecutor(folder=o.folder, cluster=o.cluster or None)
        parameters: dict[str, Any] = {
            "name": "mmcl",
            "timeout_min": o.time_min,
            "gpus_per_node": o.gpus_per_node,
            "cpus_per_task": o.cpus_per_task,
            # submitit applies slurm_* parameters on Slurm only
            "slurm_array_parallelism": o.array_parallelism or jobs,
        }
        if o.partition:
            parameters["slurm_partition"] = o.partition
        if o.mem_gb:
            parameters["mem_gb"] = o.mem_gb
        executor.update_parameters(**parameters)
        return executor


@dataclass
class JobArrays:
    """The driver's state for one call on submitit: runs queued, jobs running, tries made."""

    options: SlurmOptions
    runs: Runs
    executor: Any
    queue: list[int] = field(default_factory=list)
    running: dict[int, Any] = field(default_factory=dict)  # run index -> its submitit job
    retries: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue = list(range(len(self.runs.calls)))
        self.progress = Progress(self.runs)
        self.task = functools.partial(
            run_quietly, self.runs.fn, self.options.cpus_per_task, cwd=os.getcwd()
        )

    def submit(self) -> None:
        """The queued runs as one job array (on this machine: as many as there is room for)."""
        parallel = self.options.array_parallelism or self.runs.jobs
        local = self.options.cluster in LOCAL_CLUSTERS
        room = max(parallel - len(self.running), 0) if local else len(self.queue)
        batch, self.queue = self.queue[:room], self.queue[room:]
        if batch:
            jobs = self.executor.map_array(self.task, [self.runs.calls[k] for k in batch])
            self.running.update(zip(batch, jobs, strict=True))

    def settle(self) -> bool:
        """Each finished job's result, resubmission or failure; True if any job finished."""
        finished = [k for k, job in self.running.items() if self.finished(job)]
        for k in finished:
            job = self.running.pop(k)
            error = job.exception()
            if error is None:
                self.progress.succeeded(k, job.result())
            elif self.retries.get(k, 0) < self.options.max_retries:
                self.retries[k] = self.retries.get(k, 0) + 1
                log.warning(
                    "%s: job %s failed (%s); submitting it again (retry %d of %d)",
                    *(self.runs.name(k), job.job_id, self.failure(error, job, k)),
                    *(self.retries[k], self.options.max_retries),
                )
                self.queue.append(k)
            else:
                self.progress.failed(self.failure(error, job, k))
        return bool(finished)

    def failure(self, error: BaseException, job: Any, index: int) -> Failure:
        failure = slurm_failure(error, job, index)
        if self.options.cluster == "debug":  # the job ran here, and submitit wrote no log
            failure.log = "this process's stderr (cluster=debug)"
        return failure

    def finished(self, job: Any) -> bool:
        # The debug cluster runs a job when asked for its exception (its done() would open pdb
        # on an error), so its jobs count as finished at once.
        return self.options.cluster == "debug" or job.done()


def slurm_failure(error: BaseException, job: Any, index: int) -> Failure:
    """The run's own error from submitit's trace (its last line, `Type: message`) when the job
    raised; submitit's own (UncompletedJobError: killed, preempted, timed out) otherwise."""
    text, kind = str(error), type(error).__name__
    message = first_line(text)
    if kind == "FailedJobError" and "-" * 22 in text:
        last = first_line(text.split("-" * 22)[1], last=True)
        name, sep, rest = last.partition(": ")
        if sep and name.replace(".", "").replace("_", "").isalnum():
            kind, message = name.rpartition(".")[2], rest  # `mmcl.errors.MMCLError` -> MMCLError
        else:
            message = last
    elif kind == "UncompletedJobError":
        message = first_line(" ".join(text.splitlines()[:2]))  # "Job 12 ... has not produced"
    return Failure(index, kind, message, str(job.paths.stderr))
