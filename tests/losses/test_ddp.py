"""Two gloo processes on shards of a global batch == one process on the whole batch.

Checks the gradient scaling of the all-gather (open_clip #616/#1047, lightly #1977): the mean of
the ranks' losses is the global loss and DDP's averaged parameter gradients equal the
single-process gradients.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
WORLD = 2


def _load_worker():
    spec = importlib.util.spec_from_file_location("mmcl_tests_ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(WORLD),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        str(WORKER),
        str(out_dir),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("case", ["clip", "siglip", "ntxent", "ntxent_groups", "spectral"])
def test_ddp_equals_single_process(rank_results, case):
    worker = _load_worker()
    global_loss, global_grads = worker.loss_and_grads(case, worker.Towers(), slice(None))
    losses = [results[case][0] for results in rank_results]
    assert sum(losses) / WORLD == pytest.approx(global_loss, abs=1e-10)
    for results in rank_results:
        grads = results[case][1]
        assert grads.keys() == global_grads.keys()
        for name, grad in grads.items():
            torch.testing.assert_close(grad, global_grads[name], atol=1e-10, rtol=1e-8)
    if case == "clip":
        assert torch.count_nonzero(global_grads["log_scale"]) == 1  # the scale gets a gradient


def test_helpers_without_process_group_are_the_identity():
    from mmcl import distributed

    x = torch.randn(3, 2, requires_grad=True)
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size()) == (0, 1)
    assert distributed.all_gather_with_grad(x) is x
    assert distributed.all_gather_no_grad(x) is x
