"""Stop signals in training (`mmcl.train.preemption`): recorded instead of fatal, handlers put
back after, the shell's exit code, and every rank of a torchrun job stopping after one step.

The end-to-end check (a real `mmcl train` stopped by SIGTERM/SIGUSR1 and resumed bit-identical)
is tests/safety/test_preemption.py.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.train.distributed import Runtime
from mmcl.train.preemption import STOP_SIGNALS, Preempted, StopSignals

from .runs import run_two_processes

ALONE = Runtime(torch.device("cpu"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGUSR1, 138)])
def test_preempted_is_one_line_naming_resume_with_the_shells_exit_code(signum, code):
    stop = Preempted(signum, 7, Path("runs/x"))
    assert isinstance(stop, MMCLError) and stop.exit_code == code
    assert str(stop) == (
        f"stopped by {signum.name} after step 7, checkpoint written; "
        "resume with: mmcl train --resume runs/x"
    )


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_stop_signal_is_recorded_once_and_the_handlers_are_put_back(signum, caplog):
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    stops = StopSignals()
    with stops.listening():
        assert stops.agreed(ALONE) == 0
        os.kill(os.getpid(), signum)
        other = next(s for s in STOP_SIGNALS if s != signum)
        os.kill(os.getpid(), other)  # the first one stays the reason
        assert stops.agreed(ALONE) == signum
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before
    assert caplog.text.count("stopping after this step") == 1


def test_outside_the_main_thread_listening_leaves_the_handlers_alone():
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    seen = []

    def listen() -> None:
        with StopSignals().listening():
            seen.append({s: signal.getsignal(s) for s in STOP_SIGNALS})

    thread = threading.Thread(target=listen)
    thread.start()
    thread.join()
    assert seen == [before]


def test_every_rank_stops_after_the_step_one_rank_was_signalled(tmp_path):
    out = tmp_path / "stops.json"
    run_two_processes(str(Path(__file__).with_name("stop_agreement_worker.py")), str(out))
    assert json.loads(out.read_text()) == [[3, signal.SIGUSR1]] * 2
