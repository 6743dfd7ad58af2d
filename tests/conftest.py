"""Shared fixtures: a tiny world and model so every end-to-end test runs in seconds."""

from __future__ import annotations

import pytest

TINY = [
    "data.shapes.n_train=512",
    "data.shapes.n_test=128",
    "model.width=4",
    "model.text_width=32",
    "model.text_layers=1",
    "model.text_heads=2",
    "model.embed_dim=16",
    "train.batch_size=64",
    "train.steps=6",
    "train.warmup_steps=2",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.progress=false",
    "eval.probe_train_size=256",
    "eval.tasks=[zeroshot,classifier,linear_probe]",
]


@pytest.fixture(scope="session")
def world_cache(tmp_path_factory) -> str:
    """One rendered-world cache for the whole session."""
    return str(tmp_path_factory.mktemp("mmcl_cache"))


@pytest.fixture
def tiny_overrides(world_cache: str, tmp_path) -> list[str]:
    return [*TINY, f"data.cache_dir={world_cache}", f"out_dir={tmp_path / 'runs'}"]
