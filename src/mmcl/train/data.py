"""From the data config to the datasets that the trainer and the evaluator read."""

from __future__ import annotations

from mmcl.data.augment import simclr_view_transform
from mmcl.data.world_dataset import WorldDataset
from mmcl.data.worlds import WorldSplit, load_world
from mmcl.methods.base import Method
from mmcl.models.tokenizer import Tokenizer
from mmcl.train.config import DataConfig, RunConfig


def load_split(cfg: DataConfig, split: str) -> WorldSplit:
    """One split of the configured world (rendered once, then read from the disk cache)."""
    return load_world(cfg.shapes, split, cfg.cache_dir or None)


def training_dataset(cfg: RunConfig, method: Method, split: WorldSplit) -> WorldDataset:
    """The train split as the method needs it: captions tokenized, augmented views."""
    tokenizer = Tokenizer(cfg.model.context_length) if method.needs_text else None
    views = None
    if method.n_views:
        views = simclr_view_transform(split.image_size, strength=cfg.method.augment)
    return WorldDataset(split, tokenizer, views, method.n_views)
