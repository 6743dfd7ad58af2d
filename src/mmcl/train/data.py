"""From the data config to the datasets that the trainer and the evaluator read.

`data.format=world` renders a built-in world; every other format is read from `data.path`:
map-style readers (CSV, COCO, ImageFolder, ImageNet-Captions) give a `RecordSet` served by
`RecordDataset` through the trainer's `ResumableBatchSampler`; webdataset shards are streamed
by `ShardStream`, which is its own sampler. Readers check the schema here, before any training.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from mmcl.data.augment import simclr_view_transform
from mmcl.data.batch import Batch
from mmcl.data.caption_edits import CaptionEdit, coco_categories, edit_captions
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.readers import ReaderOptions, read_records
from mmcl.data.formats.records import RecordSet
from mmcl.data.formats.webdataset_shards import shard_paths
from mmcl.data.record_dataset import (
    BatchEncoder,
    LoadedBatch,
    RecordDataset,
    collate_loaded,
    records_to_split,
)
from mmcl.data.stream_dataset import Shard, ShardStream, first_samples, index_shards
from mmcl.data.world_dataset import WorldDataset, collate_batches
from mmcl.data.worlds import WorldSplit, load_world
from mmcl.errors import MMCLError
from mmcl.methods.base import DataInfo, Method
from mmcl.models.tokenizer import tokenizer_for
from mmcl.train.config import DataConfig, RunConfig
from mmcl.train.distributed import Runtime

log = logging.getLogger(__name__)
TrainSource = WorldSplit | RecordSet | list[Shard]


def load_split(cfg: DataConfig, split: str) -> WorldSplit:
    """One split of the configured world (rendered once, then read from the disk cache)."""
    return load_world(cfg.shapes, split, cfg.cache_dir or None)


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


def data_info(cfg: DataConfig, source: TrainSource) -> DataInfo:
    """Image size and class count, which the model is built for."""
    if isinstance(source, WorldSplit):
        return DataInfo(source.image_size, len(source.class_names))
    classes = source.class_names if isinstance(source, RecordSet) else []
    return DataInfo(cfg.image_size, len(classes))


def check_method_fits(cfg: RunConfig, method: Method, source: TrainSource) -> None:
    """Fail before training when the data lacks what the method needs."""
    needs_labels = cfg.method.name == "supervised"
    if needs_labels and isinstance(source, RecordSet) and not source.class_names:
        raise MMCLError(
            f"method.name=supervised needs class labels, but {source.name} has none: use "
            "data.format=imagefolder, or a CSV with a class column (data.csv_label_key)"
        )
    has_captions = not isinstance(source, RecordSet) or any(r.captions for r in source.records)
    if method.needs_text and not has_captions:
        raise MMCLError(
            f"method.name={cfg.method.name} trains on captions, but {source.name} has none "
            "(for ImageFolder set data.caption_template, e.g. 'a photo of a {}.')"
        )


def batch_encoder(cfg: RunConfig, method: Method, image_size: int) -> BatchEncoder:
    tokenizer = tokenizer_for(cfg.model) if method.needs_text else None
    views = None
    if method.n_views:
        views = simclr_view_transform(image_size, strength=cfg.method.augment)
    return BatchEncoder(image_size, tokenizer, views, method.n_views)


def training_dataset(
    cfg: RunConfig, method: Method, source: TrainSource, runtime: Runtime | None = None
) -> WorldDataset | RecordDataset | ShardStream:
    """The train data as the method needs it: captions tokenized, augmented views."""
    if isinstance(source, WorldSplit):
        encoder = batch_encoder(cfg, method, source.image_size)
        return WorldDataset(
            source, encoder.tokenizer, encoder.view_transform, method.n_views, cfg.train.seed
        )
    check_method_fits(cfg, method, source)
    encoder = batch_encoder(cfg, method, cfg.data.image_size)
    if isinstance(source, RecordSet):
        return RecordDataset(source, encoder, cfg.train.seed)
    runtime = runtime or Runtime(torch.device("cpu"))
    if cfg.train.batch_size % runtime.world_size:
        raise MMCLError(
            f"train.batch_size={cfg.train.batch_size} must be divisible by the "
            f"{runtime.world_size} processes"
        )
    return ShardStream(
        source,
        encoder,
        cfg.train.batch_size // runtime.world_size,
        cfg.train.seed,
        runtime.rank,
        runtime.world_size,
        max(1, cfg.data.num_workers),
        cfg.data.shuffle_buffer,
    )


def bad_data_log(cfg: DataConfig, dataset) -> BadDataLog:
    known = len(dataset) if isinstance(dataset, RecordDataset) else 0
    return BadDataLog(cfg.max_bad_fraction, known, what=cfg.path or cfg.world)


def epoch_batches(
    dataset, sampler, cfg: RunConfig, epoch: int, pin_memory: bool, bad: BadDataLog
) -> Iterator[Batch]:
    """This epoch's batches from the sampler's position on; bad samples counted in `bad`."""
    if isinstance(dataset, ShardStream):
        loader = DataLoader(
            dataset,
            batch_size=None,
            num_workers=cfg.data.num_workers,
            generator=torch.Generator().manual_seed(cfg.train.seed),  # see below
            pin_memory=pin_memory,
        )
        remaining = len(dataset) - dataset.start_batch
        return _accounted(itertools.islice(loader, remaining), bad)
    if isinstance(dataset, RecordDataset):
        dataset.set_epoch(epoch)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_loaded if isinstance(dataset, RecordDataset) else collate_batches,
        num_workers=cfg.data.num_workers,
        # Its own generator: creating a loader must not draw from the global RNG, or a
        # resumed run would see different augmentations than an uninterrupted one.
        generator=torch.Generator().manual_seed(cfg.train.seed),
        pin_memory=pin_memory,
    )
    return _accounted(loader, bad) if isinstance(dataset, RecordDataset) else iter(loader)


def _accounted(loader, bad: BadDataLog) -> Iterator[Batch]:
    for item in loader:
        loaded: LoadedBatch = item
        bad.record(len(loaded.batch), loaded.bad)
        yield loaded.batch


def data_split(
    cfg: DataConfig, fmt: str, path: str, name: str, limit: int | None, bad: BadDataLog
) -> WorldSplit:
    """Decode a dataset on disk (or `limit` of its images) into an in-memory split: for record
    formats a class-stratified subset, for shard streams the first `limit` in shard order."""
    source = read_source(fmt, path, cfg)
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
