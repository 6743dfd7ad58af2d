"""Kill a training run with SIGKILL mid-way, resume it: it ends on the same numbers."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from mmcl.train.metrics_log import read_metrics

from .runs import latest_step, spawn_mmcl, write_config

STEPS = 120


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in read_metrics(run / "metrics.jsonl")]


def _records(run: Path) -> list[tuple]:
    records = json.loads((run / "results.json").read_text())["records"]
    return [(r["task"], r["split"], r["metric"], r["value"]) for r in records]


def test_sigkilled_run_resumes_to_the_same_final_metrics(tiny_overrides, tmp_path):
    overrides = [
        *tiny_overrides,
        f"train.steps={STEPS}",
        "train.checkpoint_every=10",
        "method.name=simclr",
        "eval.tasks=[linear_probe]",
        "data.num_workers=2",
        "train.precision=fp32",  # auto times a matmul: two runs on a loaded machine may differ
    ]  # simclr: augmentation RNG too, drawn in loader workers
    straight = write_config(tmp_path / "straight.yaml", [*overrides, "name=straight"])
    killed = write_config(tmp_path / "killed.yaml", [*overrides, "name=killed"])
    runs = tmp_path / "runs"

    reference = spawn_mmcl("train", str(straight))  # one thread each: both cores busy
    process = spawn_mmcl("train", str(killed))
    deadline = time.time() + 120
    while latest_step(runs / "killed") < 20 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 0 < latest_step(runs / "killed") < STEPS

    resumed = spawn_mmcl("train", "--resume", str(runs / "killed"))
    assert resumed.wait() == 0, resumed.stdout.read()
    assert reference.wait() == 0, reference.stdout.read()

    assert _losses(runs / "killed") == _losses(runs / "straight")
    assert [s for s, _ in _losses(runs / "killed")] == list(range(1, STEPS + 1))
    assert _records(runs / "killed") == _records(runs / "straight")
