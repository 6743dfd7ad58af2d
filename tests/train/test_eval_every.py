"""`eval.every`: robustness over training, logged to metrics.jsonl and drawn in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmcl.cli import main
from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.train.config import RunConfig
from mmcl.train.metrics_log import read_metrics

from ..browser import assert_reads_well
from ..conftest import TINY
from .runs import write_config

SPLITS = ("id", "spurious_reversed", "sketch")


def _train(root: Path, world_cache: str, name: str, *extra: str) -> Path:
    overrides = [*TINY, f"data.cache_dir={world_cache}", f"out_dir={root}", f"name={name}",
                 "train.steps=10", "eval.tasks=[zeroshot]",
                 f"eval.splits=[{','.join(SPLITS)}]", *extra]  # fmt: skip
    assert main(["train", str(write_config(root / f"{name}.yaml", overrides))]) == 0
    return root / name


def test_eval_every_logs_a_trajectory_without_changing_training(tmp_path, world_cache):
    scored = _train(tmp_path, world_cache, "scored", "eval.every=2")
    plain = _train(tmp_path, world_cache, "plain")
    rows = read_metrics(scored / "metrics.jsonl")
    evals = [r for r in rows if "eval/zeroshot/id" in r]
    assert [r["step"] for r in evals] == [2, 4, 6, 8, 10]
    assert all(0.0 <= r[f"eval/zeroshot/{s}"] <= 1.0 for r in evals for s in SPLITS)
    losses = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    # forked RNG, model back in training mode: the same batches, views and updates
    assert losses == [(r["step"], r["loss"]) for r in read_metrics(plain / "metrics.jsonl")]
    clock = [r["train_s"] for r in rows if "loss" in r]
    assert all(b >= a > 0 for a, b in zip(clock, clock[1:], strict=False))  # training time only
    page = scored / "report.html"
    assert_reads_well(page, ["Training curves", "Robustness over training",
                             "What the splits look like"])  # fmt: skip
    assert "Robustness over training" not in (plain / "report.html").read_text()


def test_eval_every_must_not_be_negative():
    with pytest.raises(MMCLError, match="eval.every"):
        load_config(RunConfig, None, ["eval.every=-1"])
