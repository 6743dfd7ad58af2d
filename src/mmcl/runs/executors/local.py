"""The default engine: `mmcl.processes.map_in_processes` (spawned local processes, one torch
thread each), unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from mmcl.processes import map_in_processes
from mmcl.runs.executors.base import EXECUTORS
from mmcl.runs.executors.progress import Runs


@dataclass
class NoOptions:
    """The local executor takes no options: `--jobs` says how many processes."""


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
