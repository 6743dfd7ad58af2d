"""Write an in-memory split to disk in the field's formats (`mmcl data make`).

So every reader can be exercised end to end on known data: a built-in world written as CSV,
COCO captions, ImageFolder or webdataset shards must read back to the same images (PNG is
lossless), captions and classes. Every index file is written atomically.
"""

from __future__ import annotations

import csv
import importlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.formats.images import encode_image
from mmcl.data.worlds.base import WorldSplit
from mmcl.io import atomic_write, atomic_write_json, atomic_write_text
from mmcl.registry import Registry


@dataclass(frozen=True)
class WriteOptions:
    image_ext: str = "png"  # png (lossless: reads back exactly) | jpg | webp
    shard_size: int = 1000  # webdataset samples per tar


Writer = Callable[[WorldSplit, Path, WriteOptions], list[Path]]
WRITERS: Registry[Writer] = Registry("output format")
# Writers in modules of their own, registered on first ask (they import WRITERS from here).
WRITER_MODULES = ("clip_benchmark",)


def writer_formats() -> list[str]:
    """Every registered output format (csv, coco, imagefolder, webdataset, clip_benchmark,
    plugins'), whichever modules were imported before."""
    for name in WRITER_MODULES:
        importlib.import_module(f"mmcl.data.formats.{name}")
    return WRITERS.names()


def _image_files(split: WorldSplit, folder: Path, ext: str) -> list[str]:
    """Write every image as folder/<6-digit index>.<ext>; returns the file names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(len(split)):
        name = f"{i:06d}.{ext}"
        (folder / name).write_bytes(encode_image(split.images[i], ext))
        names.append(name)
    return names


@WRITERS.register("csv")
def write_csv(split: WorldSplit, out: Path, options: WriteOptions) -> list[Path]:
    """out/<split>.csv (filepath, title, label = class name) + out/<split>/NNNNNN.<ext>."""
    names = _image_files(split, out / split.name, options.image_ext)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filepath", "title", "label"])
    for i, name in enumerate(names):
        label = split.class_names[int(split.labels[i])]
        writer.writerow([f"{split.name}/{name}", split.captions[i], label])
    path = out / f"{split.name}.csv"
    atomic_write_text(path, buffer.getvalue())
    return [path]


@WRITERS.register("imagefolder")
def write_imagefolder(split: WorldSplit, out: Path, options: WriteOptions) -> list[Path]:
    """out/<split>/<class>/NNNNNN.<ext> (every class folder, even an empty one)."""
    root = out / split.name
    for name in split.class_names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(len(split)):
        folder = root / split.class_names[int(split.labels[i])]
        image = encode_image(split.images[i], options.image_ext)
        (folder / f"{i:06d}.{options.image_ext}").write_bytes(image)
    return [root]


@WRITERS.register("coco")
def write_coco(split: WorldSplit, out: Path, options: WriteOptions) -> list[Path]:
    """out/annotations/captions_<split>.json + out/<split>/NNNNNN.<ext> (COCO's layout)."""
    names = _image_files(split, out / split.name, options.image_ext)
    data = {
        "info": {"description": f"mmcl world split {split.name}: {split.description}"},
        "images": [{"id": i, "file_name": name} for i, name in enumerate(names)],
        "annotations": [
            {"id": i, "image_id": i, "caption": caption} for i, caption in enumerate(split.captions)
        ],
    }
    path = out / "annotations" / f"captions_{split.name}.json"
    atomic_write_json(path, data)
    return [path]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@WRITERS.register("webdataset")
def write_webdataset(split: WorldSplit, out: Path, options: WriteOptions) -> list[Path]:
    """out/<split>-NNNNNN.tar: per sample <key>.<ext>, <key>.txt, <key>.cls (class index)."""
    paths, ext, shard_size = [], options.image_ext, options.shard_size
    for shard, start in enumerate(range(0, len(split), shard_size)):
        path = out / f"{split.name}-{shard:06d}.tar"

        def write(handle, start: int = start) -> None:
            with tarfile.open(fileobj=handle, mode="w") as tar:
                for i in range(start, min(start + shard_size, len(split))):
                    key = f"{i:06d}"
                    _add(tar, f"{key}.{ext}", encode_image(split.images[i], ext))
                    _add(tar, f"{key}.txt", split.captions[i].encode("utf-8"))
                    _add(tar, f"{key}.cls", str(int(split.labels[i])).encode("ascii"))

        atomic_write(path, write)
        paths.append(path)
    return paths


def shard_pattern(paths: list[Path]) -> str:
    """The brace pattern naming written shards, e.g. out/train-{000000..000003}.tar."""
    first, last = paths[0].stem.rsplit("-", 1), paths[-1].stem.rsplit("-", 1)
    if len(paths) == 1:
        return str(paths[0])
    return str(paths[0].parent / f"{first[0]}-{{{first[1]}..{last[1]}}}.tar")
