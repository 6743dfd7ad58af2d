"""Built-in procedural worlds: `WORLDS` registry and the cached entry point `load_world`."""

from __future__ import annotations

import os
from typing import Any

from mmcl.data.worlds import fashion as _fashion  # noqa: F401  (registers "fashion")
from mmcl.data.worlds import shapes as _shapes  # noqa: F401  (registers "shapes")
from mmcl.data.worlds.base import WORLDS, World, WorldSplit
from mmcl.data.worlds.cache import read_images, read_split, save_split, split_files
from mmcl.errors import MMCLError
from mmcl.registry import unknown_name_message

__all__ = ["WORLDS", "World", "WorldSplit", "get_world", "load_world"]


def get_world(cfg: Any) -> tuple[World, Any]:
    """(world, config) for a world name (default config) or a registered world's config object."""
    if isinstance(cfg, str):
        if cfg not in WORLDS:
            raise MMCLError(unknown_name_message("world", cfg, WORLDS.names()))
        world = WORLDS.get(cfg)
        return world, world.config_cls()
    for name in WORLDS:
        if isinstance(cfg, WORLDS.get(name).config_cls):
            return WORLDS.get(name), cfg
    raise MMCLError(f"no registered world takes a {type(cfg).__name__} config")


def load_world(cfg: Any, split: str, cache_dir: str | os.PathLike | None = None) -> WorldSplit:
    """One split of a world, read from the disk cache or rendered and cached.

    cfg: a world config (e.g. `ShapesConfig`) or a world name for its defaults.
    cache_dir: default $MMCL_CACHE or ~/.cache/mmcl; files go under `worlds/`, keyed by a hash
    of world name, config, split and cache format version. Images are keyed without the
    world's `text_fields`, so configs that differ only in captions render once.
    """
    world, cfg = get_world(cfg)
    cfg.validate()
    if split not in world.splits:
        raise MMCLError(unknown_name_message(f"{world.name} split", split, world.splits))
    files = split_files(cache_dir, world, cfg, split)
    cached = read_split(files)
    if cached is not None:
        return cached
    built = world.build(cfg, split, read_images(files))
    save_split(built, files)
    return built
