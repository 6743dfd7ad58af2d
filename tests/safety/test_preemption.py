"""SIGTERM or SIGUSR1 during `mmcl train` (what SLURM sends before it kills a job): the run
finishes its step, writes a checkpoint at that step, exits 128 + the signal number with one line
naming `--resume`, and resumed it ends bit-identical to a run that was never stopped.

The signal goes to the run's whole process group, as SLURM sends it to every process of a job:
the DataLoader workers must survive it until the step ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmcl.train.metrics_log import read_metrics
from mmcl.train.run import load_trained

from ..conftest import TINY
from ..train.runs import latest_step, write_config

STEPS = 20  # 8 batches an epoch: the stop comes mid-epoch, the resume crosses two
STOP_AFTER = 4  # steps logged before the signal is sent


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("preemption")


@pytest.fixture(scope="module")
def overrides(world_cache: str, runs: Path) -> list[str]:
    return [
        *TINY,
        f"data.cache_dir={world_cache}",
        f"out_dir={runs}",
        f"train.steps={STEPS}",
        "train.checkpoint_every=1000",  # so the only checkpoint before the end is the stop's
        "data.num_workers=2",  # workers get the signal too
        "train.precision=fp32",  # auto times a matmul: two runs on a loaded machine may differ
        "eval.after_train=false",  # the weights are compared instead: eval is a function of them
    ]


def _spawn(*args: str) -> subprocess.Popen:
    """`python -m mmcl ARGS` in its own process group (so the test can signal all of it)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mmcl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _train(*args: str) -> None:
    process = _spawn("train", *args)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output[-3000:]


def _steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _signal_after_a_few_steps(config: Path, run: Path, signum: int) -> tuple[int, str]:
    """Start `mmcl train config`, send `signum` to its process group after STOP_AFTER steps;
    its exit code and output."""
    process = _spawn("train", str(config))
    try:
        deadline = time.time() + 60
        while _steps_logged(run) < STOP_AFTER and process.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        if process.poll() is None:  # else it ended on its own: the exit code says how
            os.killpg(process.pid, signum)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, output


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in read_metrics(run / "metrics.jsonl")]


@pytest.fixture(scope="module")
def straight(overrides: list[str], runs: Path) -> Path:
    """The same config trained without a stop."""
    _train(str(write_config(runs / "straight.yaml", [*overrides, "name=straight"])))
    return runs / "straight"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["TERM", "USR1"])
def test_a_stop_signal_checkpoints_the_step_and_resume_ends_bit_identical(
    overrides, runs, straight, signum
):
    config = write_config(runs / f"{signum.name}.yaml", [*overrides, f"name={signum.name}"])
    run = runs / signum.name
    code, output = _signal_after_a_few_steps(config, run, signum)

    assert code == 128 + signum, output[-3000:]  # 143 for SIGTERM, 138 for SIGUSR1
    last = output.strip().splitlines()[-1]
    assert last.endswith(f"resume with: mmcl train --resume {run}"), output[-3000:]
    stopped_at = _losses(run)[-1][0]
    assert STOP_AFTER <= stopped_at < STEPS and f"after step {stopped_at}," in last
    assert latest_step(run) == stopped_at and "Traceback" not in output

    _train("--resume", str(run))
    assert _losses(run) == _losses(straight)
    weights, reference = load_trained(run)[1].state_dict(), load_trained(straight)[1].state_dict()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
