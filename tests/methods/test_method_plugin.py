"""A method added from outside mmcl brings its own settings section and its own training
dataset, and `mmcl train` trains it with `method.<section>.<field>=...` overrides like a
built-in one (issue 29: before, a plugin method could have neither)."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from mmcl.cli import main
from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.methods.base import METHODS
from mmcl.plugins import PLUGINS_ENV
from mmcl.train.config import RunConfig

# Trains on the first `keep` training images only, through a dataset of its own that writes
# `mark` into every batch; the method logs what it saw. Sized by the trainer on the plugin's
# dataset, an epoch is keep / batch_size steps.
PLUGIN = """
from dataclasses import dataclass

import torch

from mmcl.config import check_range
from mmcl.data.world_dataset import WorldDataset
from mmcl.errors import MMCLError
from mmcl.methods.base import METHODS
from mmcl.methods.simclr import SimCLR


@dataclass
class FirstSettings:
    keep: int = 256  # train on the first `keep` images
    mark: float = 1.0  # written into every batch by the dataset

    def validate(self) -> None:
        check_range("method.first.keep", self.keep, 2)


class FirstImages(WorldDataset):
    def __init__(self, default: WorldDataset, keep: int, mark: float) -> None:
        self.__dict__.update(default.__dict__)
        self.keep, self.mark = keep, mark

    def __len__(self) -> int:
        return self.keep

    def __getitems__(self, indices):
        if max(indices) >= self.keep:
            raise MMCLError(f"index {max(indices)} is not among the first {self.keep}")
        batch = super().__getitems__(indices)
        batch.attributes = {**batch.attributes, "mark": torch.full((len(batch),), self.mark)}
        return batch


@METHODS.register("first_simclr")
class FirstSimCLR(SimCLR):
    settings_cls, settings_key = FirstSettings, "first"

    @classmethod
    def build(cls, cfg, model_cfg, info):
        method = super().build(cfg, model_cfg, info)
        method.first = cfg.settings
        return method

    def training_dataset(self, cfg, source, default):
        return FirstImages(default, self.first.keep, self.first.mark)

    def training_forward(self, batch, groups=None):
        outputs = super().training_forward(batch, groups)
        outputs["mark"] = batch.attributes["mark"].float().mean()
        outputs["max_index"] = batch.index.max().float()
        return outputs
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin module, loaded as `mmcl train` loads plugins; its registration is undone."""
    name = f"mmcl_test_first_plugin_{tmp_path.name}"
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(PLUGINS_ENV, name)
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    yield name
    sys.modules.pop(name, None)


def test_a_plugin_method_trains_with_its_own_settings_and_dataset(plugin, tiny_overrides, tmp_path):
    config = tmp_path / "first.yaml"
    config.write_text("name: first\nmethod:\n  name: first_simclr\n  first:\n    mark: 0.5\n")
    overrides = [*tiny_overrides, "train.batch_size=32", "method.first.keep=96",
                 "method.first.mark=2.5"]  # fmt: skip
    assert main(["train", str(config), *overrides, "--no-eval"]) == 0
    run = tmp_path / "runs" / "first"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "loss" in m]
    assert len(steps) == 6
    assert all(m["mark"] == 2.5 for m in steps)  # the override reached the plugin's dataset
    assert all(m["max_index"] < 96 for m in steps)  # only its dataset's samples were drawn
    # The sampler was sized on the plugin's 96 samples: 3 batches of 32 an epoch, not 512 / 32.
    assert [m["epoch"] for m in steps] == [0, 0, 1, 1, 1, 2]
    saved = yaml.safe_load((run / "config.yaml").read_text())["method"]
    assert saved["first"] == {"keep": 96, "mark": 2.5}  # written flat, as typed
    assert set(saved) >= {"resampling", "mcl"}  # the sections every config holds


def test_a_plugin_section_is_checked_like_a_built_in_one(plugin, tiny_overrides):
    from mmcl.plugins import load_plugins

    load_plugins()
    base = [*tiny_overrides, "method.name=first_simclr"]
    with pytest.raises(MMCLError, match=r"'method.first.kep'; did you mean 'method.first.keep'"):
        load_config(RunConfig, None, [*base, "method.first.kep=3"])
    with pytest.raises(MMCLError, match=r"'method.first.keep' = 1 is out of range"):
        load_config(RunConfig, None, [*base, "method.first.keep=1"])
    with pytest.raises(MMCLError, match=r"'method.frist'; did you mean 'method.first'"):
        load_config(RunConfig, None, [*base, "method.frist.keep=3"])
    cfg = load_config(RunConfig, None, [*base, "method.first.keep=7"])
    assert cfg.method.settings.keep == cfg.method.first.keep == 7
    # A run of another method holds the plugin's section only when it is given, so loading a
    # plugin changes no other run's config hash.
    clip = load_config(RunConfig, None, tiny_overrides)
    assert "first" not in clip.method.sections and clip.method.first.keep == 256
