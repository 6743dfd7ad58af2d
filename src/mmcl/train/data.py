"""From the training source (`mmcl.data.sources`) to the dataset the trainer reads.

`data.format=world` serves a rendered world; map-style readers (CSV, COCO, ImageFolder,
ImageNet-Captions) give a `RecordSet` served by `RecordDataset` through the trainer's
`ResumableBatchSampler`; webdataset shards are streamed by `ShardStream`, which is its own
sampler. The source makes its own dataset (`source.visit(TrainingRead(...))`) and the loop asks
the dataset how it is read: `own_sampler` (it cuts its own batches), `reports_bad` (its fetches
are `LoadedBatch`es carrying the bad samples met), `known_size` (what the bad-data tally judges
a fraction of), `set_epoch`. A dataset that declares none of these (a world's, or a method's
own) is read as a world's: ready `Batch`es, no bad samples, driven by the trainer's sampler.
The method decides what a batch holds (tokenized captions, augmented views), and may replace the
whole dataset with its own (`Method.training_dataset`: partner views by caption or from a
teacher's index), before the trainer sizes its sampler on it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from mmcl.data.augment import simclr_view_transform
from mmcl.data.batch import Batch
from mmcl.data.config import DataConfig
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.record_dataset import BatchEncoder, LoadedBatch, collate_loaded
from mmcl.data.sources import TrainingRead, TrainSource
from mmcl.data.world_dataset import collate_batches
from mmcl.errors import MMCLError
from mmcl.methods.base import DataInfo, Method
from mmcl.models.tokenizer import tokenizer_for
from mmcl.train.config import RunConfig
from mmcl.train.distributed import Runtime
from mmcl.train.preemption import ignore_stop_signals

log = logging.getLogger(__name__)


def data_info(cfg: DataConfig, source: TrainSource) -> DataInfo:
    """Image size and class count, which the model is built for."""
    return DataInfo(source.image_size_for(cfg.image_size), len(source.class_names))


def check_method_fits(cfg: RunConfig, method: Method, source: TrainSource) -> None:
    """Fail before training when the data lacks what the method needs."""
    if method.needs_labels and not source.class_names:
        raise MMCLError(
            f"method.name={cfg.method.name} needs class names, but {source.description} has "
            f"none{source.first_bad()}: use data.format=imagefolder, or a CSV with a class "
            "column (data.csv.label_key)"
        )
    missing = source.missing_captions() if method.needs_text else ""
    if missing:
        raise MMCLError(f"method.name={cfg.method.name} trains on captions, but {missing}")


def batch_encoder(cfg: RunConfig, method: Method, image_size: int) -> BatchEncoder:
    tokenizer = tokenizer_for(cfg.model) if method.needs_text else None
    views = None
    if method.n_views:
        views = simclr_view_transform(image_size, strength=cfg.method.augment)
    return BatchEncoder(image_size, tokenizer, views, method.n_views)


def training_dataset(
    cfg: RunConfig, method: Method, source: TrainSource, runtime: Runtime | None = None
) -> Any:
    """The train data as the method needs it: captions tokenized, augmented views, or the
    method's own dataset built over the source (`Method.training_dataset`)."""
    default = _encoded_dataset(cfg, method, source, runtime)
    return method.training_dataset(cfg, source, default)


def _encoded_dataset(
    cfg: RunConfig, method: Method, source: TrainSource, runtime: Runtime | None = None
) -> Any:
    """The source read as `method.needs_text` / `method.n_views` ask."""
    check_method_fits(cfg, method, source)
    encoder = batch_encoder(cfg, method, source.image_size_for(cfg.data.image_size))
    runtime = runtime or Runtime(torch.device("cpu"))
    t = cfg.train
    read = TrainingRead(
        encoder, t.seed, t.batch_size, runtime.rank, runtime.world_size, cfg.data.num_workers
    )
    return source.visit(read)


def own_sampler(dataset: Any) -> bool:
    """Whether `dataset` cuts its own batches (a stream), so no sampler may drive it."""
    return getattr(dataset, "own_sampler", False)


def bad_data_log(cfg: DataConfig, dataset: Any) -> BadDataLog:
    """The run's tally, judged against the dataset's size as `mmcl data check` judges it."""
    known = getattr(dataset, "known_size", 0)  # a world's has no bad samples to judge
    return BadDataLog(cfg.max_bad_fraction, known, what=cfg.path or cfg.world)


def epoch_batches(
    dataset, sampler, cfg: RunConfig, epoch: int, pin_memory: bool, bad: BadDataLog
) -> Iterator[Batch]:
    """This epoch's batches from the sampler's position on; bad samples counted in `bad`."""
    if own_sampler(dataset):
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
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    reports_bad = getattr(dataset, "reports_bad", False)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_loaded if reports_bad else collate_batches,
        num_workers=cfg.data.num_workers,
        # Its own generator: creating a loader must not draw from the global RNG, or a
        # resumed run would see different augmentations than an uninterrupted one.
        generator=torch.Generator().manual_seed(cfg.train.seed),
        pin_memory=pin_memory,
        worker_init_fn=ignore_stop_signals,
    )
    return _accounted(loader, bad) if reports_bad else iter(loader)


def _accounted(loader, bad: BadDataLog) -> Iterator[Batch]:
    for item in loader:
        loaded: LoadedBatch = item
        bad.record(len(loaded.batch), loaded.bad)
        yield loaded.batch
