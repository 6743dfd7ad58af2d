"""A data format added from outside mmcl brings its own options, read from
`data.<format>.<field>=...` like a built-in format's, by `mmcl train` and `mmcl data check`
(issue 29: before, a plugin reader received mmcl's fixed `ReaderOptions` and could have none of
its own)."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from mmcl.cli import main
from mmcl.config import config_hash, load_config
from mmcl.data.formats.readers import READERS
from mmcl.errors import MMCLError
from mmcl.plugins import PLUGINS_ENV, load_plugins
from mmcl.train.config import RunConfig

# Reads mmcl's CSV (filepath, title, label columns) but only its first `keep` rows, with
# `prefix` put before every caption: two options no built-in format has.
PLUGIN = """
import csv
from dataclasses import dataclass
from pathlib import Path

from mmcl.config import check_range
from mmcl.data.formats.readers import reader
from mmcl.data.formats.records import Record, RecordSet


@dataclass(frozen=True)
class FirstRowsOptions:
    keep: int = 0  # rows read from the top; 0 = all
    prefix: str = ""  # put before every caption

    def validate(self) -> None:
        check_range("data.first_rows.keep", self.keep, 0)


@reader("first_rows", options=FirstRowsOptions)
def read_first_rows(path: Path, options: FirstRowsOptions) -> RecordSet:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows = rows[: options.keep] if options.keep else rows
    classes = sorted({row["label"] for row in rows})
    records = [
        Record(
            image=str(path.parent / row["filepath"]),
            captions=(options.prefix + row["title"],),
            label=classes.index(row["label"]),
            source=f"{path.name}:{i + 2}",
        )
        for i, row in enumerate(rows)
    ]
    return RecordSet(records, classes, name=str(path))
"""
MODEL = [
    "model.width=4",
    "model.text_width=32",
    "model.text_layers=1",
    "model.text_heads=2",
    "model.embed_dim=16",
    "train.batch_size=8",
    "train.steps=4",
    "train.warmup_steps=1",
    "train.log_every=1",
    "train.checkpoint_every=4",
    "train.progress=false",
    "data.image_size=16",
]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin module, loaded as `mmcl train` loads plugins; its registration is undone."""
    name = f"mmcl_test_first_rows_{tmp_path.name}"
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(PLUGINS_ENV, name)
    monkeypatch.setattr(READERS, "_entries", dict(READERS._entries))
    yield name
    sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def table(tmp_path_factory, world_cache):
    """64 shapes images written as mmcl's CSV."""
    root = tmp_path_factory.mktemp("first_rows")
    args = ["data", "make", "shapes", "shapes.n_train=64", "shapes.n_test=16"]
    assert main([*args, f"cache_dir={world_cache}", "--out", str(root), "--format", "csv"]) == 0
    return root / "train.csv"


def test_a_plugin_format_trains_with_its_own_options(plugin, table, tmp_path):
    base = ["train", "configs/clip_shapes.yaml", *MODEL, f"out_dir={tmp_path / 'runs'}"]
    base += ["data.format=first_rows", f"data.path={table}", "--no-eval"]
    assert main([*base, "name=all"]) == 0
    assert main([*base, "name=first", "data.first_rows.keep=16"]) == 0

    def epochs(name: str) -> list[int]:
        lines = (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()
        return [m["epoch"] for m in map(json.loads, lines) if "loss" in m]

    # The sampler is sized on what the reader read: 64 rows are 8 batches of 8 an epoch, the
    # first 16 rows only 2 (a step logs the epoch it leaves the sampler in), so the override
    # reached the plugin's reader.
    assert epochs("all") == [0, 0, 0, 0]
    assert epochs("first") == [0, 1, 1, 2]
    saved = yaml.safe_load((tmp_path / "runs" / "first" / "config.yaml").read_text())["data"]
    assert saved["first_rows"] == {"keep": 16, "prefix": ""}  # written flat, as typed


def test_a_plugin_format_is_checked_with_its_options(plugin, table, capsys):
    check = ["data", "check", str(table), "--format", "first_rows", "first_rows.keep=5"]

    def words(out: str) -> tuple[int, int]:
        low, high = re.search(r"captions: 1.0 per image, (\d+) to (\d+) words", out).groups()
        return int(low), int(high)

    assert main(check) == 0
    out = capsys.readouterr().out
    assert f"{table} (first_rows): 5 samples, 5 good, 0 bad" in out
    assert main([*check, "first_rows.prefix=a drawing: "]) == 0
    prefixed = capsys.readouterr().out
    assert words(prefixed) == (words(out)[0] + 2, words(out)[1] + 2)  # two words put before


def test_a_plugin_format_section_is_checked_like_a_built_in_one(plugin, table):
    load_plugins()
    base = ["data.format=first_rows", f"data.path={table}"]
    with pytest.raises(MMCLError, match=r"'data.first_rows.kep'; did you mean 'data.first_rows"):
        load_config(RunConfig, None, [*base, "data.first_rows.kep=3"])
    with pytest.raises(MMCLError, match=r"'data.first_rows.keep' = -1 is out of range"):
        load_config(RunConfig, None, [*base, "data.first_rows.keep=-1"])
    cfg = load_config(RunConfig, None, [*base, "data.first_rows.keep=7"])
    assert cfg.data.options("first_rows").keep == cfg.data.first_rows.keep == 7
    # A run of another format holds the plugin's section only when it is given, so loading a
    # plugin changes no other run's config hash.
    world = load_config(RunConfig, None, [])
    assert "first_rows" not in world.data.formats
    READERS._entries.pop("first_rows")
    assert config_hash(load_config(RunConfig, None, [])) == config_hash(world)
