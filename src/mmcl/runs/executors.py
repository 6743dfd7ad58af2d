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

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import importlib
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar, Protocol

from mmcl.config import check_choice, check_range, config_hash, from_dict
from mmcl.errors import MMCLError
from mmcl.processes import OnDone, map_in_processes
from mmcl.registry import Registry

log = logging.getLogger(__name__)

Describe = Callable[[Callable[..., Any], int, tuple], str]  # (fn, index, args) -> "run 3 (...)"
POLL_S = 1.0  # how often the Slurm driver looks at its jobs (submitit caches sacct itself)
LINE = 300  # characters of an original error message kept in the one-line MMCLError
# The extra that installs each optional engine (pyproject's [project.optional-dependencies]).
EXTRAS = {"ray": "ray", "submitit": "slurm"}


# --- options -------------------------------------------------------------------------------


@dataclass
class NoOptions:
    """The local executor takes no options: `--jobs` says how many processes."""


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


# --- registry and the current executor -------------------------------------------------------


class Executor(Protocol):
    """An engine: its `Options` dataclass, a check run before any work, and `map`."""

    Options: ClassVar[type]

    def __init__(self, options: Any) -> None: ...

    @staticmethod
    def check(options: Any) -> None: ...

    def map(self, runs: Runs) -> list: ...


EXECUTORS: Registry[type[Executor]] = Registry("executor")


@dataclass
class ExecutorConfig:
    """Which engine opens the runs (`name`, a registered executor) and its own `options`
    (that engine's Options dataclass; None: its defaults)."""

    name: str = "local"
    options: Any = None

    def __post_init__(self) -> None:
        engine = executor_class(self.name)
        if self.options is None:
            self.options = engine.Options()
        elif not isinstance(self.options, engine.Options):
            raise MMCLError(
                f"executor {self.name!r} takes {engine.Options.__name__}, "
                f"got {type(self.options).__name__}"
            )


def executor_class(name: str) -> type[Executor]:
    try:
        return EXECUTORS.get(name)
    except KeyError as error:
        raise MMCLError(error.args[0]) from None


def executor_config(name: str, settings: Mapping[str, Any] = ()) -> ExecutorConfig:
    """`name` with `settings` (option -> value) checked against its Options: unknown keys name
    the nearest valid one, values are coerced to the field's type and range-checked."""
    engine = executor_class(name)
    settings = dict(settings)
    if settings and not dataclasses.fields(engine.Options):
        raise MMCLError(f"the {name} executor takes no options (got {', '.join(settings)})")
    return ExecutorConfig(name, from_dict(engine.Options, settings))


# None: the default, local processes (a context variable's default should not be mutable).
_CURRENT: contextvars.ContextVar[ExecutorConfig | None] = contextvars.ContextVar(
    "mmcl_executor", default=None
)


def current_executor() -> ExecutorConfig:
    return _CURRENT.get() or ExecutorConfig()


@contextlib.contextmanager
def using_executor(spec: ExecutorConfig | str | None) -> Iterator[ExecutorConfig]:
    """Open every `map_runs` inside the block with `spec` (a config or an engine's name with
    its defaults; None keeps the current one). Its package is checked now, before any work."""
    if spec is None:
        yield current_executor()
        return
    config = spec if isinstance(spec, ExecutorConfig) else ExecutorConfig(spec)
    executor_class(config.name).check(config.options)
    token = _CURRENT.set(config)
    try:
        yield config
    finally:
        _CURRENT.reset(token)


def map_runs(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    jobs: int,
    on_done: OnDone | None = None,
    *,
    describe: Describe | None = None,
) -> list[Any]:
    """`fn(*args)` for every tuple in `calls` through the current executor; results in the
    order of `calls`. `describe(fn, index, args)` names a failed run in the error."""
    config = current_executor()
    engine = executor_class(config.name)(config.options)
    return engine.map(Runs(fn, list(calls), jobs, on_done, describe or describe_call))


def describe_call(fn: Callable[..., Any], index: int, args: tuple) -> str:
    """`run 3 (train_and_evaluate, config 1a2b3c4d5e6f, runs/x/1a2b...)` when an argument has a
    `cfg` and a `run_dir` (a sweep's run), else `run 3 (train_and_evaluate)`."""
    name = getattr(fn, "__name__", repr(fn))
    for arg in args:
        cfg, run_dir = getattr(arg, "cfg", None), getattr(arg, "run_dir", None)
        if cfg is not None and run_dir is not None:
            try:
                digest = config_hash(cfg)
            except TypeError:  # not a dataclass config: the folder alone names the run
                return f"run {index} ({name}, {run_dir})"
            return f"run {index} ({name}, config {digest}, {run_dir})"
    return f"run {index} ({name})"


def require(module: str) -> ModuleType:
    """Import an optional engine, or say in one line which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS[module]
        raise MMCLError(
            f'the {extra} executor needs the {module} package: pip install -e ".[{extra}]"'
        ) from None


def run_quietly(fn: Callable[..., Any], threads: int, args: tuple, cwd: str = "") -> Any:
    """A run's entry point on a Ray worker or a Slurm job: `threads` torch threads, warnings and
    errors only (the driver reports progress, as `mmcl.processes` workers do), in the driver's
    working folder `cwd` where this node sees it, so relative run folders (`--out runs/x`) mean
    the same folder as on the driver. All three are put back afterwards: a Ray worker runs many
    tasks, and the debug cluster runs in the driver itself."""
    from mmcl.threads import torch_threads  # torch loads on the worker, not with this module

    before, here = logging.root.manager.disable, os.getcwd()
    logging.disable(logging.INFO)
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        with torch_threads(threads):
            return fn(*args)
    finally:
        os.chdir(here)
        logging.disable(before)


# --- the driver's view of many runs ----------------------------------------------------------


@dataclass
class Runs:
    """One `map_runs` call: `fn(*args)` per tuple of `calls`, `jobs` at a time."""

    fn: Callable[..., Any]
    calls: Sequence[tuple]
    jobs: int
    on_done: OnDone | None
    describe: Describe

    def name(self, index: int) -> str:
        return self.describe(self.fn, index, self.calls[index])


@dataclass
class Failure:
    index: int
    kind: str  # the original error's type name
    message: str
    log: str  # where the run's log is

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}; log: {self.log}"


def _first_line(text: object, last: bool = False) -> str:
    """The first (or last) non-blank line of `text`, cut to LINE characters."""
    lines = [part.strip() for part in str(text).splitlines() if part.strip()]
    line = (lines[-1] if last else lines[0]) if lines else ""
    return line if len(line) <= LINE else line[: LINE - 3] + "..."


@dataclass
class Progress:
    """Results as they come, `on_done`, the bar (`runs: 3/8, running 2, failed 0`) and the
    runs that failed for good, raised at the end as one MMCLError."""

    runs: Runs
    results: dict[int, Any] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    running: int = 0

    def __post_init__(self) -> None:
        from tqdm import tqdm

        shown = sys.stderr.isatty() or logging.getLogger("mmcl").isEnabledFor(logging.INFO)
        self.bar = tqdm(
            total=len(self.runs.calls),
            desc="runs",
            file=sys.stderr,
            disable=not shown,
            # `runs: 3/8, running 2, failed 0 [00:41]` (tqdm puts the ", " before the postfix)
            bar_format="{desc}: {n_fmt}/{total_fmt}{postfix} [{elapsed}]",
        )
        self.show()

    def show(self, running: int | None = None) -> None:
        self.running = self.running if running is None else running
        self.bar.set_postfix_str(f"running {self.running}, failed {len(self.failures)}")

    def succeeded(self, index: int, result: Any) -> None:
        self.results[index] = result
        self.bar.update(1)
        self.show()
        if self.runs.on_done is not None:
            self.runs.on_done(len(self.results), index, result)

    def failed(self, failure: Failure) -> None:
        self.failures.append(failure)
        log.error("%s failed: %s", self.runs.name(failure.index), failure)
        self.show()

    def finish(self) -> list[Any]:
        """The results in call order, or the first failure as one MMCLError."""
        self.bar.close()
        if self.failures:
            first, others = self.failures[0], len(self.failures) - 1
            more = f" (and {others} other run{'s' * (others > 1)} failed)" if others else ""
            raise MMCLError(f"{self.runs.name(first.index)} failed: {first}{more}")
        return [self.results[k] for k in range(len(self.runs.calls))]


# --- local -------------------------------------------------------------------------------------


@EXECUTORS.register("local")
class LocalExecutor:
    """`mmcl.processes.map_in_processes`, unchanged: the default numbers and behaviour."""

    Options = NoOptions

    def __init__(self, options: NoOptions) -> None:
        self.options = options

    @staticmethod
    def check(options: NoOptions) -> None:
        pass

    def map(self, runs: Runs) -> list:
        return map_in_processes(runs.fn, runs.calls, runs.jobs, runs.on_done)


# --- ray ---------------------------------------------------------------------------------------


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
                f"the ray executor could not start {where}: {_first_line(error)}"
            ) from error
        try:
            yield
        finally:
            ray.shutdown()


def ray_logs_dir(ray: ModuleType) -> str:
    """The session's log folder (the same path on every node of the cluster)."""
    try:
        return ray._private.worker.global_worker.node.get_logs_dir_path()
    except AttributeError:  # Ray Client (ray://): the driver holds no node
        return "/tmp/ray/session_latest/logs"


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
    return Failure(index, type(original).__name__, _first_line(original), where)


# --- slurm (submitit) ----------------------------------------------------------------------------


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
    message = _first_line(text)
    if kind == "FailedJobError" and "-" * 22 in text:
        last = _first_line(text.split("-" * 22)[1], last=True)
        name, sep, rest = last.partition(": ")
        if sep and name.replace(".", "").replace("_", "").isalnum():
            kind, message = name.rpartition(".")[2], rest  # `mmcl.errors.MMCLError` -> MMCLError
        else:
            message = last
    elif kind == "UncompletedJobError":
        message = _first_line(" ".join(text.splitlines()[:2]))  # "Job 12 ... has not produced"
    return Failure(index, kind, message, str(job.paths.stderr))
