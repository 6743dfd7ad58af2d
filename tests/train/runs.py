"""Helpers for tests that run `mmcl train` as a subprocess (to kill it and resume)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def write_config(path: Path, overrides: list[str]) -> Path:
    """A YAML run config holding `key.sub=value` overrides as nested sections."""
    tree: dict = {}
    for item in overrides:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(tree))
    return path


def spawn_mmcl(*args: str) -> subprocess.Popen:
    """`python -m mmcl ARGS` on one thread, output captured as text."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mmcl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def latest_step(run: Path) -> int:
    """The step of the run's latest checkpoint (0 before the first)."""
    pointer = run / "checkpoints" / "latest"
    return int(pointer.read_text().strip()[5:12]) if pointer.exists() else 0
