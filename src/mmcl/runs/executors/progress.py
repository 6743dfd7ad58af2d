"""The driver's view of one `map_runs` call on a remote engine: results as they come, the
progress bar (`runs: 3/8, running 2, failed 0`) and the runs that failed for good, raised at
the end as one `MMCLError` naming the run, its error and its log."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmcl.errors import MMCLError
from mmcl.processes import OnDone

log = logging.getLogger("mmcl.runs.executors")

Describe = Callable[[Callable[..., Any], int, tuple], str]  # (fn, index, args) -> "run 3 (...)"
LINE = 300  # characters of an original error message kept in the one-line MMCLError


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


def first_line(text: object, last: bool = False) -> str:
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
