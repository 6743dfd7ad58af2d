"""Kill a training run with SIGKILL mid-way, resume it: it ends on the same numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from mmcl.train.metrics_log import read_metrics

STEPS = 120


def _write_config(path: Path, overrides: list[str]) -> Path:
    data: dict = {}
    for item in overrides:
        key, value = item.split("=", 1)
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(data))
    return path


def _mmcl(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mmcl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _latest_step(run: Path) -> int:
    pointer = run / "checkpoints" / "latest"
    return int(pointer.read_text().strip()[5:12]) if pointer.exists() else 0


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
    ]  # simclr: augmentation RNG too, drawn in loader workers
    straight = _write_config(tmp_path / "straight.yaml", [*overrides, "name=straight"])
    killed = _write_config(tmp_path / "killed.yaml", [*overrides, "name=killed"])
    runs = tmp_path / "runs"

    process = _mmcl("train", str(killed))
    deadline = time.time() + 120
    while _latest_step(runs / "killed") < 20 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 0 < _latest_step(runs / "killed") < STEPS

    resumed = _mmcl("train", "--resume", str(runs / "killed"))
    assert resumed.wait() == 0, resumed.stdout.read()
    reference = _mmcl("train", str(straight))
    assert reference.wait() == 0, reference.stdout.read()

    assert _losses(runs / "killed") == _losses(runs / "straight")
    assert [s for s, _ in _losses(runs / "killed")] == list(range(1, STEPS + 1))
    assert _records(runs / "killed") == _records(runs / "straight")
