"""Where many runs are opened: local processes, a Ray cluster, or Slurm through submitit.

`map_runs(fn, calls, jobs, on_done)` keeps `mmcl.processes.map_in_processes`' contract (`fn`
module-level, arguments picklable, results in the order of `calls`, `on_done(count_done, index,
result)` as each run finishes) and hands the calls to the *current executor*, chosen with
`using_executor(...)` (a context variable, so a thread started inside the block, or a run's own
worker, starts again from the default: `local`). An executor decides where a run goes, never
what it does: the function it is handed is the one door (`mmcl.runs.door`), which trains,
resumes or reuses a run by its config hash, so a run retried after a lost worker or a preempted
job resumes from its checkpoint and every executor writes the same results.

- `local`: `map_in_processes` itself, untouched (spawned processes, one torch thread each).
- `ray`: Ray tasks (`ray.remote(...).options(num_cpus, max_retries)`), gathered with
  `ray.wait` so `on_done` fires as each run ends; a task whose worker dies is retried by Ray.
- `slurm`: submitit (`AutoExecutor(folder).update_parameters(...)`, one job array per
  `map_array`), polled; a failed or preempted job is submitted again up to `max_retries` times.

Ray and Slurm show a progress bar and, when a run fails for good, raise one `MMCLError` naming
the run (`describe_call`), the original error and where its log is, after the other runs have
finished (as the local pool does: the runs are independent and each is cached once done).
Ray and submitit are optional extras, imported only when their executor is used.
"""

from mmcl.runs.executors import local, ray_engine, slurm_engine  # noqa: F401  (register them)
from mmcl.runs.executors.base import (
    EXECUTORS,
    ExecutorConfig,
    current_executor,
    describe_call,
    executor_class,
    executor_config,
    map_runs,
    require,
    run_quietly,
    using_executor,
)
from mmcl.runs.executors.local import NoOptions
from mmcl.runs.executors.progress import Failure, Progress, Runs
from mmcl.runs.executors.ray_engine import RayOptions
from mmcl.runs.executors.slurm_engine import SlurmOptions

__all__ = [
    "EXECUTORS",
    "ExecutorConfig",
    "Failure",
    "NoOptions",
    "Progress",
    "RayOptions",
    "Runs",
    "SlurmOptions",
    "current_executor",
    "describe_call",
    "executor_class",
    "executor_config",
    "map_runs",
    "require",
    "run_quietly",
    "using_executor",
]
