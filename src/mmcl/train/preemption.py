"""Stopping cleanly when a scheduler says so: finish the step, write a checkpoint, exit.

SLURM sends SIGTERM to every process of a job some seconds before it kills it (KillWait, 30 s by
default; `scancel` and preemption too), and SIGUSR1 where the job asks for it
(`sbatch --signal=USR1@120`). Training listens for both: the handler only sets a flag, the
loop reads it after each step, writes a checkpoint and raises `Preempted`, which the CLI turns
into one line ("resume with: mmcl train --resume RUN") and the exit code 128 + the signal
number (143 for SIGTERM, 138 for SIGUSR1): what a shell reports for a process that signal
ended, so job scripts that test for 143 keep working.

Under torchrun the ranks may see the signal at different steps, and a checkpoint write gathers
objects from every rank, so the flag is combined across ranks (a max all-reduce) after every
step: all ranks stop after the same one. torchrun forwards SIGTERM to its workers and gives them
30 s (`--shutdown-timeout`) for the step and the checkpoint, and exits with a code of its own;
it dies of SIGUSR1 unless SIGUSR1 is added to `torchrun --signals-to-handle`.

DataLoader workers get the signal too (SLURM signals every process of the job), and a worker
dying under a step fails it; so they ignore the stop signals (`ignore_stop_signals`, their
`worker_init_fn`) and end when the main process stops reading from them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist

from mmcl.errors import MMCLError
from mmcl.train.distributed import Runtime

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(MMCLError):
    """Training stopped at `step` on `signum` after writing a checkpoint; `exit_code` is the
    shell's code for a process that signal ended."""

    def __init__(self, signum: int, step: int, run_dir: Path) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} after step {step}, checkpoint written; "
            f"resume with: mmcl train --resume {run_dir}"
        )
        self.exit_code = 128 + signum


class StopSignals:
    """Records a stop signal (SIGTERM, SIGUSR1) while `listening()`, instead of dying of it."""

    def __init__(self) -> None:
        self.received = 0  # the first stop signal's number, 0 while none came

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Catch the stop signals inside the block, then restore the previous handlers.

        Only the main thread may set handlers: elsewhere (a notebook's worker thread) the block
        runs with the signals as they were.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._record) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def _record(self, signum: int, frame: object) -> None:
        if self.received:  # a second signal (SLURM may send both) changes nothing
            return
        self.received = signum
        name = signal.Signals(signum).name
        log.warning("%s: stopping after this step to write a checkpoint", name)

    def agreed(self, runtime: Runtime) -> int:
        """The signal every rank stops on after this step (0: go on); all ranks must call it
        at the same step, since under torchrun it is a collective."""
        if runtime.world_size == 1:
            return self.received
        flag = torch.tensor([self.received], device=runtime.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())


def ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader `worker_init_fn`: the worker lives through a stop signal sent to the whole
    job, so the step it serves ends; torch's own SIGTERM handler would kill it."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
