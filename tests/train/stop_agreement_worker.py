"""Run under torchrun: rank 1 alone gets SIGUSR1 at step 3; every rank must stop after step 3."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from mmcl.train.distributed import gather_objects, setup_runtime, teardown_runtime
from mmcl.train.preemption import StopSignals

SIGNALLED_AT = 3


def main(out: str) -> None:
    runtime = setup_runtime("cpu")
    stops = StopSignals()
    stopped = (0, 0)  # (step, signal) where this rank stopped
    with stops.listening():
        for step in range(1, 20):
            if runtime.rank == 1 and step == SIGNALLED_AT:
                os.kill(os.getpid(), signal.SIGUSR1)
            signum = stops.agreed(runtime)  # a collective: the ranks meet once per step
            if signum:
                stopped = (step, signum)
                break
    everyone = gather_objects(stopped, runtime)
    if runtime.is_main:
        Path(out).write_text(json.dumps(everyone))
    teardown_runtime()


if __name__ == "__main__":
    main(sys.argv[1])
