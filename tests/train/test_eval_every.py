"""`eval.every`: robustness over training, logged to metrics.jsonl and drawn in the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmcl.cli import main
from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.eval.tasks import CHECKPOINT_RESULTS, read_results
from mmcl.report.trajectory import checkpoint_trajectory
from mmcl.runs import training as train_run
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


def test_eval_checkpoint_all_scores_every_kept_checkpoint(tmp_path, world_cache, capsys):
    """After training, `mmcl eval RUN --checkpoint all` gives the same path on the id-shift
    plane as scoring during training would, one point per kept checkpoint."""
    run = _train(tmp_path, world_cache, "kept", "train.checkpoint_every=2",
                 "train.keep_checkpoints=5")  # fmt: skip
    assert main(["eval", str(run), "--checkpoint", "all", "--tasks", "zeroshot"]) == 0
    records = read_results(run / CHECKPOINT_RESULTS)["records"]
    accuracy = {(r["step"], r["split"]): r["value"] for r in records if r["metric"] == "accuracy"}
    assert sorted({step for step, _ in accuracy}) == [2, 4, 6, 8, 10]
    assert {r["checkpoint"] for r in records} == {f"step_{s:07d}.pt" for s in (2, 4, 6, 8, 10)}
    weights = {r["checkpoint"]: r["weights"] for r in records}
    assert len(set(weights.values())) == 5  # each record names the digest of the weights it scored
    final = read_results(run / "results.json")["records"]  # the latest checkpoint, scored alone
    assert {r["weights"] for r in final} == {weights["step_0000010.pt"]}
    for r in final:
        if r["task"] == "zeroshot" and r["metric"] == "accuracy":
            assert accuracy[10, r["split"]] == pytest.approx(r["value"])
    trajectory = checkpoint_trajectory(run, "kept", "C0")
    assert trajectory.steps == [2, 4, 6, 8, 10] and set(trajectory.accuracy) == set(SPLITS)
    assert_reads_well(run / "report.html", ["Robustness over training"])


def test_eval_checkpoint_all_without_checkpoints_says_so(tmp_path, capsys):
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    assert main(["eval", str(tmp_path / "empty"), "--checkpoint", "all"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "no step_*.pt checkpoint" in error


def test_a_checkpoint_rebuilds_its_model_without_the_training_data(tmp_path, world_cache,
                                                                   monkeypatch):  # fmt: skip
    _train(tmp_path, world_cache, "spec")
    path = tmp_path / "spec" / "checkpoints" / "step_0000010.pt"
    payload = torch.load(path, weights_only=False)
    spec = payload["model_spec"]
    assert spec["image_size"] == 32 and spec["num_classes"] == len(spec["class_names"]) == 10
    assert spec["method"] == "clip" and spec["tokenizer"].startswith("openai_bpe:")

    def no_data(*args, **kwargs):
        raise AssertionError("the training data was read")

    monkeypatch.setattr(train_run, "load_train_source", no_data)
    cfg, method = train_run.load_model(path)
    assert cfg.name == "spec" and method.model.has_text
    del payload["model_spec"]  # a checkpoint from before specs: the data is read again
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(AssertionError, match="training data"):
        train_run.load_model(tmp_path / "old.pt")
