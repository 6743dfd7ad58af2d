"""Registries are the only lists of names: a world, a method and an eval task registered by a
plugin module are accepted by `mmcl train` and `mmcl eval` by name, with no edit to mmcl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.plugins import PLUGINS_ENV, load_plugins
from mmcl.train.config import RunConfig

HERE = Path(__file__).parent
TOY_MODEL = [
    "model.width=4", "model.text_width=32", "model.text_layers=1", "model.text_heads=2",
    "model.embed_dim=16", "train.batch_size=32", "train.steps=4", "train.warmup_steps=1",
    "train.checkpoint_every=2", "train.progress=false",
]  # fmt: skip

SCRIPT = """
import json, sys
from mmcl.cli import main
from mmcl.eval.tasks import read_results
run = sys.argv[1]
status = main(["train", sys.argv[2], *sys.argv[3:]])
status += main(["eval", run, "--tasks", "mean_norm,zeroshot"])
print(json.dumps({"status": status, "results": read_results(run + "/results.json")}))
"""


def test_a_plugin_world_method_and_eval_task_train_and_evaluate_by_name(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("name: toy\n")
    overrides = [
        "data.world=toy", "data.world_options.n=40", "method.name=toy_clip",
        "eval.splits=[test]", "eval.attribute_split=", "eval.tasks=[mean_norm]",
        "eval.probe_train_size=32", f"data.cache_dir={tmp_path}",
        f"out_dir={tmp_path / 'runs'}", *TOY_MODEL,
    ]  # fmt: skip
    env = {
        **os.environ,
        PLUGINS_ENV: "toy_plugin",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    run = tmp_path / "runs" / "toy"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(run), str(config), *overrides],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["status"] == 0, done.stderr[-3000:]
    records = printed["results"]["records"]
    assert {(r["task"], r["split"]) for r in records} >= {
        ("mean_norm", "test"),
        ("zeroshot", "test"),
    }
    norm = next(r for r in records if r["task"] == "mean_norm")
    assert norm["n_samples"] == 40  # data.world_options reached the toy world's config
    assert norm["value"] > 0 and norm["checkpoint"] == "step_0000004.pt"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(
        "train/light_share" in m or "light_share" in m for m in metrics
    )  # the toy method ran


def test_names_a_plugin_registers_are_refused_without_it():
    with pytest.raises(MMCLError, match=r"data.world.*'toy'.*allowed: .*shapes"):
        load_config(RunConfig, None, ["data.world=toy"])
    with pytest.raises(MMCLError, match="method.name"):
        load_config(RunConfig, None, ["method.name=toy_clip"])


def test_world_options_are_for_worlds_without_a_section_of_their_own():
    with pytest.raises(MMCLError, match=r"data.world_options.*use data.shapes.<field>"):
        load_config(RunConfig, None, ["data.world_options.n_train=10"])


def test_a_plugin_that_fails_to_import_is_named(monkeypatch, tmp_path):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGINS_ENV, "broken_plugin")
    with pytest.raises(MMCLError, match=r"MMCL_PLUGINS names module 'broken_plugin'.*half-written"):
        load_plugins()


def test_eval_splits_must_be_splits_of_the_world():
    with pytest.raises(MMCLError, match=r"eval.splits.*'idd'.*did you mean 'id'"):
        load_config(RunConfig, None, ["eval.splits=[idd]"])
