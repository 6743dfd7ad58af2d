"""A run folder saved before the data formats owned their options still gets its sample images:
the report reads config.yaml as the trainer does (old flat keys moved), not as a user's file."""

from __future__ import annotations

import yaml

from mmcl.config import save_config
from mmcl.report.samples import run_samples_html
from mmcl.train.config import RunConfig


def test_an_old_run_config_still_shows_its_splits(tmp_path, world_cache):
    cfg = RunConfig()
    cfg.data.cache_dir = world_cache
    cfg.data.shapes.n_train = 64
    cfg.data.shapes.n_test = 32
    cfg.eval.splits = ["id"]
    save_config(cfg, tmp_path / "config.yaml")
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    saved["data"]["csv_img_key"] = "filepath"  # as configs were written before data.csv.img_key
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))

    section = run_samples_html(tmp_path, n=2)

    assert "What the splits look like" in section
    assert section.count("<img") >= 2  # train and id
