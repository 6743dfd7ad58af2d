"""A tiny shapes world written once per session in every on-disk format by `mmcl data make`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmcl.cli import main
from mmcl.data.worlds import load_world
from mmcl.data.worlds.shapes import ShapesConfig

N_TRAIN, N_TEST, SHARD = 32, 16, 8
WORLD = [f"shapes.n_train={N_TRAIN}", f"shapes.n_test={N_TEST}"]


@pytest.fixture(scope="session")
def written(tmp_path_factory, world_cache) -> Path:
    """Root holding csv/, coco/, imagefolder/, webdataset/ copies of the train and id splits."""
    root = tmp_path_factory.mktemp("formats")
    for fmt in ("csv", "coco", "imagefolder", "webdataset"):
        args = ["data", "make", "shapes", *WORLD, f"cache_dir={world_cache}"]
        args += ["--out", str(root / fmt), "--format", fmt, "--shard-size", str(SHARD)]
        assert main(args) == 0
    return root


@pytest.fixture(scope="session")
def world(world_cache):
    """The same splits in memory, to compare against what the readers give back."""
    cfg = ShapesConfig(n_train=N_TRAIN, n_test=N_TEST)
    return {name: load_world(cfg, name, world_cache) for name in ("train", "id")}
