"""A 2-process gloo torchrun run of the default CNN CLIP == one process on the same global batch.

The default image tower (`small_cnn`) has BatchNorm, whose batch statistics are per process
unless they are synchronised: without that, the two runs' losses differ from step 1 (by 0.02).

Both runs use the default memory format, contiguous on the CPU: fp32 training is chaotic at the
last-bit level, and one process alone, switched between channels_last and contiguous (whose
BatchNorm kernels sum in another order), drifts past 1e-5 by step 3 just as a synchronised
two-process run does against a channels_last one. That is why `model.channels_last` defaults
to CUDA only. The all-reduced gradient still differs from the one-process gradient in the last
bit; with AdamW's eps at 1e-8 a last-bit difference in a near-zero gradient became a full-size
step, and the losses parted by ~30x per step (1.8e-5 at step 4, 8.9e-5 at step 5). With CLIP's
eps (1e-6, `train.eps`) they agree to 1e-6 over all 6 steps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmcl.train.metrics_log import read_metrics

from .runs import run_two_processes, write_config

STEPS = 6


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
