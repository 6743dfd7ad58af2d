"""The current executor and its registry: `map_runs` hands calls to whichever engine
`using_executor` chose (a context variable; default `local`), each engine an `Executor` with its
own Options dataclass, registered in `EXECUTORS`. Also what every engine's worker runs
(`run_quietly`) and how a failed run is named (`describe_call`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Protocol

from mmcl.config import config_hash, from_dict
from mmcl.errors import MMCLError
from mmcl.processes import OnDone
from mmcl.registry import Registry
from mmcl.runs.executors.progress import Describe, Runs

# The extra that installs each optional engine (pyproject's [project.optional-dependencies]).
EXTRAS = {"ray": "ray", "submitit": "slurm"}


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
