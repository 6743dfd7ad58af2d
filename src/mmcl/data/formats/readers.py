"""The data formats by name: how each reads `data.path`, and the options it owns.

A format registers one `Reader`: its read function and its own options dataclass, read from
`data.<format>.*` (`data.csv.img_key`, `data.webdataset.shuffle_buffer`), so adding a format,
inside mmcl or as a plugin, touches no config code. A map-style reader parses an index (CSV,
JSON, folder tree) into a `RecordSet` and checks its schema, failing before training starts
with a message that names the file and what was expected. It never opens images: that is the
dataset's job, where one bad file costs one skipped sample. A streamed format (webdataset)
counts its shards instead and returns them (`ShardSet`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.registry import Registry

# Modules that register a format when imported; imagenet_captions is optional here.
READER_MODULES = ("csv_captions", "coco", "imagefolder", "imagenet_captions", "webdataset_shards")


@dataclass(frozen=True)
class Reader:
    """A registered format.

    read(path, options) returns the source training and evaluation read: a `RecordSet`, or a
    `ShardSet` for a stream. options_cls: the format's own settings, a dataclass with defaults
    (and optionally `validate()`), read from `data.<format>.*`; None when it has none (the
    reader then gets None).
    stream: read as a stream of shards: `path` is a shard spec given as text (patterns, `::`
    lists, URLs), and captions are not held in memory, so `data.caption_edit` cannot apply.
    Otherwise `path` is a local file or folder, checked to exist first.
    """

    read: Callable[[Any, Any], Any]
    options_cls: type | None = None
    stream: bool = False

    def options(self) -> Any:
        """The default options (None for a format that has none)."""
        return None if self.options_cls is None else self.options_cls()


READERS: Registry[Reader] = Registry("dataset format")


def reader(name: str, options: type | None = None, stream: bool = False) -> Callable:
    """Register the decorated `read(path, options)` as format `name` (see `Reader`)."""

    def decorator(read: Callable) -> Callable:
        READERS.register(name)(Reader(read, options, stream))
        return read

    return decorator


def _register_all() -> None:
    for name in READER_MODULES:
        try:
            importlib.import_module(f"mmcl.data.formats.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"mmcl.data.formats.{name}":
                raise


def reader_formats() -> list[str]:
    """Every registered format (csv, coco, imagefolder, webdataset, plugins' ...)."""
    _register_all()
    return READERS.names()


def get_reader(fmt: str) -> Reader:
    """The reader of format `fmt`, or an MMCLError naming the formats there are."""
    if fmt not in reader_formats():
        raise MMCLError(f"data.format={fmt!r} has no reader (have: {', '.join(READERS.names())})")
    return READERS.get(fmt)


def read_records(fmt: str, path: str | Path, options: Any = None) -> Any:
    """Parse `path` as format `fmt`, with `options` (default: the format's defaults); schema
    errors raise `MMCLError`. A `RecordSet`, or for a streamed format its counted shards."""
    found = get_reader(fmt)
    if not str(path):
        raise MMCLError(f"data.format={fmt} needs data.path (the file or folder to read)")
    if not found.stream and not Path(path).exists():
        raise MMCLError(f"data.path={path} does not exist")
    where = str(path) if found.stream else Path(path)
    return found.read(where, found.options() if options is None else options)
