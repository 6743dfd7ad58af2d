"""From the data config to datasets in memory: the built-in world's splits, a format's records
or counted shards, and splits decoded for evaluation. Shared by training and evaluation, so
neither reaches into the other for its data.

A training source is one of three kinds: a world's `WorldSplit`, a `RecordSet` (csv, coco,
imagefolder, imagenet_captions, a plugin's reader) or a `ShardSet` (webdataset). Each answers
the same questions (`class_names`, `image_size_for`, `first_bad`, `missing_captions`) and
hands itself to the matching method of a visitor (`source.visit(v)` calls `v.world`,
`v.records` or `v.shards`): the kinds live below the datasets made of them, so they cannot
build those themselves, and no caller tests which kind it holds. `TrainingRead` is the visitor
that makes a source's training dataset.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from mmcl.data.caption_edits import CaptionEdit, coco_categories, edit_captions
from mmcl.data.config import DataConfig
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.readers import read_records
from mmcl.data.formats.records import RecordSet
from mmcl.data.formats.webdataset_shards import ShardSet
from mmcl.data.record_dataset import (
    BatchEncoder,
    RecordDataset,
    lazy_records_split,
    records_to_split,
)
from mmcl.data.stream_dataset import ShardStream, first_samples
from mmcl.data.world_dataset import WorldDataset
from mmcl.data.worlds import WorldSplit, load_world
from mmcl.errors import MMCLError

log = logging.getLogger(__name__)
TrainSource = WorldSplit | RecordSet | ShardSet


def load_split(cfg: DataConfig, split: str) -> WorldSplit:
    """One split of the configured world (rendered once, then read from the disk cache)."""
    return load_world(cfg.world_config(), split, cfg.cache_dir or None)


def read_source(fmt: str, path: str, cfg: DataConfig) -> RecordSet | ShardSet:
    """Parse one dataset with format `fmt`'s own options, `data.<fmt>.*` (schema errors raise
    here, before training)."""
    return read_records(fmt, path, cfg.options(fmt))


def load_train_source(cfg: DataConfig) -> TrainSource:
    if cfg.format == "world":
        return load_split(cfg, "train")
    source = read_source(cfg.format, cfg.path, cfg)
    if cfg.caption_edit != "full":  # only formats that read records into memory allow it
        source = edited_records(source, cfg)
    return source


@dataclass(frozen=True)
class TrainingRead:
    """How the trainer reads a source (a visitor, see the module doc): each kind's dataset,
    batches encoded by `encoder`, drawn from `seed`.

    batch_size is global; a stream cuts it into per-rank batches itself, so it must divide by
    world_size there. workers: DataLoader workers (a stream splits its shards among them).
    """

    encoder: BatchEncoder
    seed: int
    batch_size: int
    rank: int = 0
    world_size: int = 1
    workers: int = 0

    def world(self, split: WorldSplit) -> WorldDataset:
        e = self.encoder
        return WorldDataset(split, e.tokenizer, e.view_transform, e.n_views, self.seed)

    def records(self, records: RecordSet) -> RecordDataset:
        return RecordDataset(records, self.encoder, self.seed)

    def shards(self, shards: ShardSet) -> ShardStream:
        if self.batch_size % self.world_size:
            raise MMCLError(
                f"train.batch_size={self.batch_size} must be divisible by the "
                f"{self.world_size} processes"
            )
        return ShardStream(
            shards.shards,
            self.encoder,
            self.batch_size // self.world_size,
            self.seed,
            self.rank,
            self.world_size,
            max(1, self.workers),
            shards.options.shuffle_buffer,
        )


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
    read = _EvalRead(cfg, path, name, limit, bad, lazy)
    return read_source(fmt, path, cfg).visit(read)


@dataclass(frozen=True)
class _EvalRead:
    """`data_split`'s visitor: a source on disk as an evaluation split."""

    cfg: DataConfig
    path: str
    name: str
    limit: int | None
    bad: BadDataLog
    lazy: bool

    def records(self, source: RecordSet) -> WorldSplit:
        size, templates = self.cfg.image_size, self.cfg.prompt_templates
        if self.lazy:
            return lazy_records_split(source, size, self.name, templates, self.limit)
        return records_to_split(source, size, self.name, templates, self.bad, self.limit)

    def shards(self, source: ShardSet) -> WorldSplit:
        images, captions, labels = first_samples(
            source.shards, self.cfg.image_size, self.limit, self.bad
        )
        if not images:
            raise MMCLError(f"{self.path}: no readable samples")
        return WorldSplit(
            name=self.name,
            images=torch.stack(images),  # (N, 3, S, S) uint8
            labels=torch.tensor(labels, dtype=torch.long),
            attributes={},
            attribute_values={},
            captions=captions,
            class_names=[],
            prompt_templates=list(self.cfg.prompt_templates),
            description=self.path,
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
