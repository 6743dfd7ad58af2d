"""Helpers for tests that run `mmcl train` in a subprocess: killed and resumed, or torchrun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
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


def run_two_processes(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 ARGS` (gloo on CPU) on a free local port, one thread each.

    ARGS is a script and its arguments, or `-m mmcl train CONFIG`. Fails the test with the
    processes' output when they exit non-zero.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
    command += ["--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command += list(args)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:  # rank 0's own lines first: the tail is mostly the launcher's
        rank0 = [line for line in done.stderr.splitlines() if "[rank0]" in line][-40:]
        pytest.fail("\n".join([done.stdout[-2000:], *rank0, done.stderr[-3000:]]))
    return done
