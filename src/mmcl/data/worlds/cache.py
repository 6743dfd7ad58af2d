"""Disk cache for rendered world splits: one file per (world, config, split, format version)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmcl.data.worlds.base import World, WorldSplit
from mmcl.io import atomic_write

FORMAT_VERSION = 2  # bump when rendering, captions or the file layout change
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$MMCL_CACHE, else ~/.cache/mmcl."""
    return Path(os.environ.get("MMCL_CACHE") or Path.home() / ".cache" / "mmcl")


def cache_key(world: str, cfg: Any, split: str, ignore: frozenset[str] = frozenset()) -> str:
    """Hash of world, config (less the `ignore`d fields), split and cache format."""
    config = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ignore}
    payload = {"world": world, "config": config, "split": split, "format": FORMAT_VERSION}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class SplitFiles:
    """Where one split lives: its images (keyed by the fields that change pixels) and the rest."""

    images: Path
    text: Path


def split_files(
    cache_dir: str | os.PathLike | None, world: World, cfg: Any, split: str
) -> SplitFiles:
    root = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "worlds"
    pixels = cache_key(world.name, cfg, split, ignore=world.text_fields)
    return SplitFiles(
        images=root / f"{world.name}-{split}-images-{pixels}.pt",
        text=root / f"{world.name}-{split}-{cache_key(world.name, cfg, split)}.pt",
    )


def save_split(split: WorldSplit, files: SplitFiles) -> None:
    """Write atomically, so a killed render never leaves a half-written cache file."""
    state = split.state_dict()
    images = state.pop("images")
    if not files.images.is_file():
        atomic_write(files.images, lambda handle: torch.save(images, handle))
    atomic_write(files.text, lambda handle: torch.save(state, handle))


def read_images(files: SplitFiles) -> torch.Tensor | None:
    """The cached images, or None when missing or unreadable (then they are rendered again)."""
    return _read(files.images)


def read_split(files: SplitFiles) -> WorldSplit | None:
    """The cached split, or None when either file is missing or unreadable (then it is rebuilt)."""
    images = read_images(files)
    state = _read(files.text) if images is not None else None
    if state is None:
        return None
    try:
        return WorldSplit.from_state_dict({**state, "images": images})
    except Exception as err:  # a file of another layout or a mismatched pair: rebuild
        log.warning("ignoring world cache %s (%s); rebuilding", files.text, err)
        return None


def _read(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception as err:  # a truncated or foreign file: rebuild rather than fail
        log.warning("ignoring unreadable world cache %s (%s); rebuilding", path, err)
        return None
