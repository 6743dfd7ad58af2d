"""From the training source (`mmcl.data.sources`) to the dataset the trainer reads.

`data.format=world` serves a rendered world; map-style readers (CSV, COCO, ImageFolder,
ImageNet-Captions) give a `RecordSet` served by `RecordDataset` through the trainer's
`ResumableBatchSampler`; webdataset shards are streamed by `ShardStream`, which is its own
sampler. The method decides what a batch holds (tokenized captions, augmented views), and may
replace the whole dataset with its own (`Method.training_dataset`: partner views by caption or
from a teacher's index), before the trainer sizes its sampler on it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from mmcl.data.augment import simclr_view_transform
from mmcl.data.batch import Batch
from mmcl.data.config import DataConfig
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.records import RecordSet
from mmcl.data.formats.webdataset_shards import LOOKED_FOR
from mmcl.data.record_dataset import (
    BatchEncoder,
    LoadedBatch,
    RecordDataset,
    collate_loaded,
)
from mmcl.data.sources import TrainSource
from mmcl.data.stream_dataset import ShardStream
from mmcl.data.world_dataset import WorldDataset, collate_batches
from mmcl.data.worlds import WorldSplit
from mmcl.errors import MMCLError
from mmcl.methods.base import DataInfo, Method
from mmcl.models.tokenizer import tokenizer_for
from mmcl.train.config import RunConfig
from mmcl.train.distributed import Runtime
from mmcl.train.preemption import ignore_stop_signals

log = logging.getLogger(__name__)


def data_info(cfg: DataConfig, source: TrainSource) -> DataInfo:
    """Image size and class count, which the model is built for."""
    if isinstance(source, WorldSplit):
        return DataInfo(source.image_size, len(source.class_names))
    classes = source.class_names if isinstance(source, RecordSet) else []
    return DataInfo(cfg.image_size, len(classes))


def check_method_fits(cfg: RunConfig, method: Method, source: TrainSource) -> None:
    """Fail before training when the data lacks what the method needs."""
    if method.needs_labels and not getattr(source, "class_names", None):
        name = source.name if isinstance(source, RecordSet) else "data.format=webdataset"
        raise MMCLError(
            f"method.name={cfg.method.name} needs class names, but {name} has none"
            f"{_first_bad(source)}: use data.format=imagefolder, or a CSV with a class column "
            "(data.csv_label_key)"
        )
    if method.needs_text and isinstance(source, RecordSet):
        if not any(r.captions for r in source.records):
            raise MMCLError(
                f"method.name={cfg.method.name} trains on captions, but {source.name} has none"
                f"{_first_bad(source)} (for ImageFolder set data.caption_template, e.g. "
                "'a photo of a {}.')"
            )
    elif method.needs_text and all(shard.captioned == 0 for shard in source):
        raise MMCLError(
            f"method.name={cfg.method.name} trains on captions, but no sample of "
            f"{', '.join(s.path for s in source[:3])}{' ...' if len(source) > 3 else ''} has a "
            f"caption (looked for {LOOKED_FOR}); write captions into the shards, or train an "
            "image-only method (method.name=simclr)"
        )


def _first_bad(source: TrainSource) -> str:
    """The first row its reader could not use, as " (file:line: why)": it may say why the data
    has no classes or captions at all (an empty class column, a file not in UTF-8)."""
    records = source.records if isinstance(source, RecordSet) else []
    return next((f" ({r.source}: {r.error})" for r in records if r.error), "")


def batch_encoder(cfg: RunConfig, method: Method, image_size: int) -> BatchEncoder:
    tokenizer = tokenizer_for(cfg.model) if method.needs_text else None
    views = None
    if method.n_views:
        views = simclr_view_transform(image_size, strength=cfg.method.augment)
    return BatchEncoder(image_size, tokenizer, views, method.n_views)


def training_dataset(
    cfg: RunConfig, method: Method, source: TrainSource, runtime: Runtime | None = None
) -> WorldDataset | RecordDataset | ShardStream:
    """The train data as the method needs it: captions tokenized, augmented views, or the
    method's own dataset built over the source (`Method.training_dataset`)."""
    default = _encoded_dataset(cfg, method, source, runtime)
    return method.training_dataset(cfg, source, default)


def _encoded_dataset(
    cfg: RunConfig, method: Method, source: TrainSource, runtime: Runtime | None = None
) -> WorldDataset | RecordDataset | ShardStream:
    """The source read as `method.needs_text` / `method.n_views` ask."""
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
    """The run's tally, judged against the dataset's size as `mmcl data check` judges it."""
    known = len(dataset) if isinstance(dataset, RecordDataset) else 0
    if isinstance(dataset, ShardStream):
        known = dataset.n_samples
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
            worker_init_fn=ignore_stop_signals,  # a stop signal ends the step, then the loader
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
        worker_init_fn=ignore_stop_signals,
    )
    return _accounted(loader, bad) if isinstance(dataset, RecordDataset) else iter(loader)


def _accounted(loader, bad: BadDataLog) -> Iterator[Batch]:
    for item in loader:
        loaded: LoadedBatch = item
        bad.record(len(loaded.batch), loaded.bad)
        yield loaded.batch
