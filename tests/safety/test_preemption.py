"""SIGUSR1 or SIGTERM during `mmcl train` (what SLURM sends before it kills a job): the run
finishes its step, writes a checkpoint at that step, exits 128 + the signal number with one line
naming `--resume`, and resumed it ends bit-identical to a run that was never stopped.

One run is stopped twice, by SIGUSR1 and then, resumed, by SIGTERM (a job preempted again), while
the uninterrupted reference trains beside it: five `mmcl train` starts one after another took
over 40 s on 2 cores, most of it importing torch. Each signal goes to the run's whole process
group, as SLURM sends it to every process of a job: the DataLoader workers must live through it
until the step ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from mmcl.train import checkpoint as ckpt
from mmcl.train.metrics_log import read_metrics

from ..conftest import TINY
from ..train.runs import latest_step, write_config

STEPS = 20  # 8 batches an epoch: both stops and both resumes fall mid-epoch
STOPS = [(signal.SIGUSR1, 4), (signal.SIGTERM, 12)]  # signal, steps logged before it is sent


def _config(tmp_path: Path, world_cache: str, name: str) -> Path:
    return write_config(
        tmp_path / f"{name}.yaml",
        [
            *TINY,
            f"data.cache_dir={world_cache}",
            f"out_dir={tmp_path / 'runs'}",
            f"name={name}",
            f"train.steps={STEPS}",
            "train.checkpoint_every=1000",  # so the only checkpoints before the end are the stops'
            "data.num_workers=2",  # workers get the signal too
            "train.precision=fp32",  # auto times a matmul: two runs on a loaded machine may differ
            "eval.after_train=false",  # the weights are compared instead (eval is theirs)
        ],
    )


def _spawn(*args: str) -> subprocess.Popen:
    """`python -m mmcl train ARGS` in its own process group (so the test can signal all of it)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mmcl", "train", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finished(process: subprocess.Popen) -> None:
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output[-3000:]


def _steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _signalled(args: list[str], run: Path, signum: int, after: int) -> tuple[int, str]:
    """Run `mmcl train ARGS` and send `signum` to its process group once `after` steps are
    logged; its exit code and output."""
    process = _spawn(*args)
    try:
        deadline = time.time() + 60
        while _steps_logged(run) < after and process.poll() is None and time.time() < deadline:
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


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    """The latest checkpoint's model state (read directly: importing the model stack for
    `load_trained` would add seconds to this file)."""
    return ckpt.load_checkpoint(ckpt.latest_checkpoint(run / "checkpoints"))["method"]


def test_stop_signals_checkpoint_the_step_and_the_resumed_run_ends_bit_identical(
    world_cache, tmp_path
):
    straight = _spawn(str(_config(tmp_path, world_cache, "straight")))
    run = tmp_path / "runs" / "stopped"
    args = [str(_config(tmp_path, world_cache, "stopped"))]
    for signum, after in STOPS:
        code, output = _signalled(args, run, signum, after)
        assert code == 128 + signum, output[-3000:]  # 138 for SIGUSR1, 143 for SIGTERM
        last = output.strip().splitlines()[-1]
        assert last.endswith(f"resume with: mmcl train --resume {run}"), output[-3000:]
        stopped_at = _losses(run)[-1][0]
        assert after <= stopped_at < STEPS and f"by {signum.name} after step {stopped_at}," in last
        assert latest_step(run) == stopped_at and "Traceback" not in output
        args = ["--resume", str(run)]

    _finished(_spawn(*args))
    _finished(straight)
    reference = tmp_path / "runs" / "straight"
    assert _losses(run) == _losses(reference)
    weights, expected = _final_weights(run), _final_weights(reference)
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[k], expected[k]) for k in expected)
