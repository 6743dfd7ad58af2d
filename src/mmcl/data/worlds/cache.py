"""Disk cache for rendered world splits: one file per (world, config, split, format version)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from mmcl.data.worlds.base import WorldSplit
from mmcl.io import atomic_write

FORMAT_VERSION = 1  # bump when rendering or captions change, so old caches are not reused
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$MMCL_CACHE, else ~/.cache/mmcl."""
    return Path(os.environ.get("MMCL_CACHE") or Path.home() / ".cache" / "mmcl")


def cache_key(world: str, cfg: Any, split: str) -> str:
    payload = {"world": world, "config": dataclasses.asdict(cfg), "split": split}
    payload["format"] = FORMAT_VERSION
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(cache_dir: str | os.PathLike | None, world: str, cfg: Any, split: str) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "worlds" / f"{world}-{split}-{cache_key(world, cfg, split)}.pt"


def save_split(split: WorldSplit, path: Path) -> None:
    """Write atomically, so a killed render never leaves a half-written cache file."""
    atomic_write(path, lambda handle: torch.save(split.state_dict(), handle))


def read_split(path: Path) -> WorldSplit | None:
    """The cached split, or None when the file is missing or unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        return WorldSplit.from_state_dict(torch.load(path, weights_only=True))
    except Exception as err:  # a truncated or foreign file: rebuild rather than fail
        log.warning("ignoring unreadable world cache %s (%s); rebuilding", path, err)
        return None
