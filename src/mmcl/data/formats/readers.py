"""The map-style readers by format name, and the options they share.

A reader parses an index (CSV, JSON, folder tree) into a `RecordSet` and checks its schema,
failing before training starts with a message that names the file and what was expected. It
never opens images: that is the dataset's job, where one bad file costs one skipped sample.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.formats.records import RecordSet
from mmcl.errors import MMCLError
from mmcl.registry import Registry

Reader = Callable[[Path, "ReaderOptions"], RecordSet]
READERS: Registry[Reader] = Registry("dataset format")
# Modules that register a reader when imported; imagenet_captions is optional here.
READER_MODULES = ("csv_captions", "coco", "imagefolder", "imagenet_captions")


@dataclass(frozen=True)
class ReaderOptions:
    csv_img_key: str = "filepath"
    csv_caption_key: str = "title"
    csv_label_key: str = ""  # optional class column (class names); "" = unlabelled
    csv_separator: str = ","
    caption_template: str = "a photo of a {}."  # ImageFolder captions; "" for none
    image_root: str = ""  # COCO image folder; "" = found next to the JSON
    class_subset: str = ""  # ImageFolder: imagenet_r | imagenet_a | objectnet
    imagenet_root: str = ""  # ImageNet-Captions: the local ImageNet its entries point into
    captions_text: str = "title+tags+description"  # ImageNet-Captions text variant(s), ","-joined
    caption_class_filter: bool = False  # ImageNet-Captions: keep captions naming the class


def _register_all() -> None:
    for name in READER_MODULES:
        try:
            importlib.import_module(f"mmcl.data.formats.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"mmcl.data.formats.{name}":
                raise


def reader_formats() -> list[str]:
    """The formats a map-style reader is registered for (csv, coco, imagefolder, ...)."""
    _register_all()
    return READERS.names()


def read_records(fmt: str, path: str | Path, options: ReaderOptions | None = None) -> RecordSet:
    """Parse `path` with the reader registered as `fmt`; schema errors raise `MMCLError`."""
    if fmt not in reader_formats():
        raise MMCLError(f"data.format={fmt!r} has no map-style reader (have: {READERS.names()})")
    if not str(path):
        raise MMCLError(f"data.format={fmt} needs data.path (the file or folder to read)")
    if not Path(path).exists():
        raise MMCLError(f"data.path={path} does not exist")
    return READERS.get(fmt)(Path(path), options or ReaderOptions())
