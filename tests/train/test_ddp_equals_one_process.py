"""A 2-process gloo torchrun run of the default CNN CLIP == one process on the same global batch.

The default image tower (`small_cnn`) has BatchNorm, whose batch statistics are per process
unless they are synchronised: without that, the two runs' losses differ from step 1 (by 0.02).

Both runs use the default memory format, contiguous on the CPU: fp32 training is chaotic at the
last-bit level, and one process alone, switched between channels_last and contiguous (whose
BatchNorm kernels sum in another order), drifts past 1e-5 by step 3 just as a synchronised
two-process run does against a channels_last one. That is why `model.channels_last` defaults
to CUDA only. With the summation order held the losses agree exactly at steps 1-2 and to 5e-7
at step 3; after that they part by ~30x per step (1.8e-5 at step 4, 8.9e-5 at step 5, on the
calibrated world): the all-reduced gradient differs from the one-process gradient in the last
bit, and Adam turns a last-bit difference in a near-zero gradient into a full-size step. The
test checks the first 3 steps, where any error in the gradient or BatchNorm sync would show.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmcl.train.metrics_log import read_metrics

from .runs import run_two_processes, write_config

STEPS = 3  # see the module docstring: later steps drift by fp32 chaos, not by a DDP error


def _run(command: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in read_metrics(run / "metrics.jsonl")]


@pytest.mark.slow  # two torchrun starts: ~30 s alone, over a minute on a loaded machine
def test_two_gloo_processes_match_one_process_per_step(tiny_overrides, tmp_path):
    overrides = [
        *tiny_overrides,
        f"train.steps={STEPS}",
        "train.checkpoint_every=100",
        "train.precision=fp32",
        "train.device=cpu",
        "model.image=small_cnn",
        "method.name=clip",
        "eval.after_train=false",
    ]
    one = write_config(tmp_path / "one.yaml", [*overrides, "name=one"])
    two = write_config(tmp_path / "two.yaml", [*overrides, "name=two"])
    _run([sys.executable, "-m", "mmcl", "train", str(one)])
    run_two_processes("-m", "mmcl", "train", str(two))

    runs = tmp_path / "runs"
    single, ddp = _losses(runs / "one"), _losses(runs / "two")
    assert [s for s, _ in ddp] == [s for s, _ in single] == list(range(1, STEPS + 1))
    for (step, a), (_, b) in zip(single, ddp, strict=True):
        assert b == pytest.approx(a, abs=1e-5), f"step {step}: one process {a}, two {b}"
