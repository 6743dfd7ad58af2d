"""From the data config to datasets in memory: the built-in world's splits, a reader's records
or a list of shards, and splits decoded for evaluation. Shared by training and evaluation, so
neither reaches into the other for its data."""

from __future__ import annotations

import dataclasses
import logging

import torch

from mmcl.data.caption_edits import CaptionEdit, coco_categories, edit_captions
from mmcl.data.config import DataConfig
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.readers import ReaderOptions, read_records
from mmcl.data.formats.records import RecordSet
from mmcl.data.formats.webdataset_shards import shard_paths
from mmcl.data.record_dataset import lazy_records_split, records_to_split
from mmcl.data.stream_dataset import Shard, first_samples, index_shards
from mmcl.data.worlds import WorldSplit, load_world
from mmcl.errors import MMCLError

log = logging.getLogger(__name__)
TrainSource = WorldSplit | RecordSet | list[Shard]


def load_split(cfg: DataConfig, split: str) -> WorldSplit:
    """One split of the configured world (rendered once, then read from the disk cache)."""
    return load_world(cfg.world_config(), split, cfg.cache_dir or None)


def reader_options(cfg: DataConfig) -> ReaderOptions:
    return ReaderOptions(
        csv_img_key=cfg.csv_img_key,
        csv_caption_key=cfg.csv_caption_key,
        csv_label_key=cfg.csv_label_key,
        csv_separator=cfg.csv_separator,
        caption_template=cfg.caption_template,
        image_root=cfg.coco_images,
        class_subset=cfg.class_subset,
        imagenet_root=cfg.imagenet_root,
        captions_text=cfg.captions_text,
        caption_class_filter=cfg.caption_class_filter,
    )


def read_source(fmt: str, path: str, cfg: DataConfig) -> RecordSet | list[Shard]:
    """Parse one dataset (schema errors raise here, before training)."""
    if fmt == "webdataset":
        return index_shards(shard_paths(path), cfg.shard_samples)
    return read_records(fmt, path, reader_options(cfg))


def load_train_source(cfg: DataConfig) -> TrainSource:
    if cfg.format == "world":
        return load_split(cfg, "train")
    source = read_source(cfg.format, cfg.path, cfg)
    if cfg.caption_edit != "full" and isinstance(source, RecordSet):
        source = edited_records(source, cfg)
    return source


def edited_records(records: RecordSet, cfg: DataConfig) -> RecordSet:
    """`data.caption_edit` applied to every record's captions (Xue et al.'s caption ablation).

    `label` keeps the class the caption names, from the data's class names or else COCO's 80
    categories; records left with no caption are dropped, and how many is logged. Rows the
    reader could not parse (`Record.error`) stay, so that they still count as bad samples.
    """
    edit = CaptionEdit(cfg.caption_edit, tuple(cfg.caption_edit_kinds))
    names = records.class_names or coco_categories()
    kept = []
    for record in records.records:
        if record.error:
            kept.append(record)
            continue
        captions = edit_captions(record.captions, edit, names)
        if captions:
            kept.append(dataclasses.replace(record, captions=tuple(captions)))
    log.info(
        "data.caption_edit=%s: %d of %d images keep a caption", edit.mode, len(kept), len(records)
    )
    if not kept:
        raise MMCLError(
            f"data.caption_edit={edit.mode} left no captions in {records.name}: no caption "
            "names one of the classes"
        )
    return RecordSet(kept, records.class_names, records.name)


def data_split(
    cfg: DataConfig,
    fmt: str,
    path: str,
    name: str,
    limit: int | None,
    bad: BadDataLog,
    lazy: bool = False,
) -> WorldSplit:
    """Decode a dataset on disk (or `limit` of its images) into an in-memory split: for record
    formats a class-stratified subset, for shard streams the first `limit` in shard order.

    lazy: record formats keep their images on disk (`RecordImages`, each decoded when read, a
    bad one found and counted then), so evaluation never holds a whole split of pixels.
    """
    source = read_source(fmt, path, cfg)
    if isinstance(source, RecordSet) and lazy:
        return lazy_records_split(source, cfg.image_size, name, cfg.prompt_templates, limit)
    if isinstance(source, RecordSet):
        return records_to_split(source, cfg.image_size, name, cfg.prompt_templates, bad, limit)
    images, captions, labels = first_samples(source, cfg.image_size, limit, bad)
    if not images:
        raise MMCLError(f"{path}: no readable samples")
    return WorldSplit(
        name=name,
        images=torch.stack(images),  # (N, 3, S, S) uint8
        labels=torch.tensor(labels, dtype=torch.long),
        attributes={},
        attribute_values={},
        captions=captions,
        class_names=[],
        prompt_templates=list(cfg.prompt_templates),
        description=path,
    )


def preview_split(cfg: DataConfig, n: int, bad: BadDataLog) -> WorldSplit:
    """The first `n` samples of `data.path` (for `mmcl data inspect`)."""
    return data_split(cfg, cfg.format, cfg.path, "preview", n, bad)


def relabel(split: WorldSplit, class_names: list[str]) -> WorldSplit:
    """`split` with labels re-indexed into `class_names` (by name); other classes dropped."""
    index = {name: i for i, name in enumerate(class_names)}
    mapped = [index.get(split.class_names[int(y)], -1) if y >= 0 else -1 for y in split.labels]
    keep = torch.tensor([m >= 0 for m in mapped])
    return WorldSplit(
        name=split.name,
        images=split.images[keep],
        labels=torch.tensor([m for m in mapped if m >= 0], dtype=torch.long),
        attributes={},
        attribute_values={},
        captions=[c for c, k in zip(split.captions, keep.tolist(), strict=True) if k],
        class_names=list(class_names),
        prompt_templates=split.prompt_templates,
        description=split.description,
        caption_sets=[c for c, k in zip(split.caption_sets, keep.tolist(), strict=False) if k],
    )
