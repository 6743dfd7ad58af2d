"""Runs side by side in spawned processes: results in call order, progress, errors surfaced."""

from __future__ import annotations

import pytest

from mmcl.processes import map_in_processes


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_follow_the_calls_and_every_run_is_reported(jobs):
    calls = [(k, 3) for k in range(6)]
    seen = []
    results = map_in_processes(pow, calls, jobs, lambda k, i, r: seen.append((k, i, r)))
    assert results == [k**3 for k in range(6)]
    assert [k for k, _, _ in seen] == list(range(1, 7))  # a running count
    assert sorted((i, r) for _, i, r in seen) == [(k, k**3) for k in range(6)]


def test_an_error_in_a_worker_reaches_the_caller():
    with pytest.raises(ValueError, match="invalid literal"):
        map_in_processes(int, [("12",), ("twelve",)], jobs=2)


DRIVER = """
import sys, time
from pathlib import Path
from mmcl.processes import map_in_processes

def record_and_sleep(folder, k):
    import os
    Path(folder, f"{k}.pid").write_text(str(os.getpid()))
    time.sleep(60)

if __name__ == "__main__":
    map_in_processes(record_and_sleep, [(sys.argv[1], 0), (sys.argv[1], 1)], jobs=2)
"""


def test_workers_end_when_their_driver_is_killed(tmp_path):
    """SIGKILL to the driver (no cleanup runs there) must not leave workers training on."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
    assert len(pids) == 2, "the workers never started"
    driver.send_signal(signal.SIGKILL)
    driver.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)
