"""Features of one split's first n rows: this process's share extracted in batches, every share
gathered and put back in row order.

A world split is in memory and read through `WorldDataset`, as it always was. A split of real
data keeps its images on disk (`RecordImages`) and is decoded batch by batch, in DataLoader
workers when there are any, so memory holds a few batches of pixels, never the split (ImageNet
val at 224 px would be 7.5 GB). An image that cannot be used is skipped and counted toward
data.max_bad_fraction; the rows kept carry their split index in `FeatureSet.index`, which is
how tasks match annotations (retrieval's caption sets) to feature rows.

Under torchrun (`Shards.across_ranks()`) rank r of W extracts rows r, r + W, ...; the shares are
gathered to every rank and sorted by row, so each rank holds the FeatureSet one process would.
The bad samples of all shares are counted on every rank alike, so all ranks stop together.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from mmcl.data.batch import Batch
from mmcl.data.formats.bad_data import BadDataLog, BadEvent
from mmcl.data.lazy_split_dataset import LazySplitDataset, collate_decoded, one_torch_thread
from mmcl.data.record_images import RecordImages
from mmcl.data.world_dataset import WorldDataset, collate_batches
from mmcl.data.worlds import WorldSplit
from mmcl.distributed import Shards
from mmcl.errors import MMCLError
from mmcl.eval.features import FeatureSet, extract_features

Tokenizer = Callable[[list[str]], torch.Tensor]


@dataclass
class Loading:
    """How a split is read: rows per batch, decoding workers, the share of this process, and
    the tally its bad samples count in."""

    batch_size: int
    workers: int
    shards: Shards
    bad: BadDataLog


@dataclass
class Share:
    """What one process extracted: features of its rows that decoded (None if none did), how
    many those are, and the bad samples it met."""

    features: FeatureSet | None = None
    delivered: int = 0
    bad: list[BadEvent] = field(default_factory=list)


def split_features(
    model: nn.Module,
    split: WorldSplit,
    tokenizer: Tokenizer | None,
    n: int,
    loading: Loading,
    autocast: bool = False,
) -> FeatureSet:
    """Backbone features of rows 0..n-1 of `split` that could be read, in row order."""
    rows = loading.shards.rows(n)
    if isinstance(split.images, RecordImages):
        share = _streamed_share(model, split, tokenizer, rows, loading, autocast)
    else:
        share = _in_memory_share(model, split, tokenizer, rows, loading.batch_size, autocast)
    shares = loading.shards.gather(share)
    events = [event for s in shares for event in s.bad]
    loading.bad.add(sum(s.delivered for s in shares), events, announce=loading.shards.is_main)
    loading.bad.check()
    parts = [s.features for s in shares if s.features is not None]
    if not parts:
        raise MMCLError(f"{split.description or split.name}: no readable images to evaluate on")
    return parts[0] if len(parts) == 1 else _in_row_order(parts)


def _batches_of(rows: Sequence[int], batch_size: int) -> list[list[int]]:
    return [list(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]


def _in_memory_share(
    model: nn.Module,
    split: WorldSplit,
    tokenizer: Tokenizer | None,
    rows: Sequence[int],
    batch_size: int,
    autocast: bool,
) -> Share:
    dataset = WorldDataset(split, tokenizer)
    batches = _batches_of(rows, batch_size)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_batches)
    return Share(_features_or_none(model, loader, autocast), len(rows))


def _streamed_share(
    model: nn.Module,
    split: WorldSplit,
    tokenizer: Tokenizer | None,
    rows: Sequence[int],
    loading: Loading,
    autocast: bool,
) -> Share:
    """This share's rows decoded a batch at a time; bad ones counted in the share, skipped."""
    loader = DataLoader(
        LazySplitDataset(split, tokenizer),
        batch_sampler=_batches_of(rows, loading.batch_size),
        collate_fn=collate_decoded,
        num_workers=loading.workers,
        worker_init_fn=one_torch_thread if loading.workers else None,
    )
    share = Share()

    def decoded() -> Iterator[Batch]:
        for item in loader:
            share.bad.extend(item.bad)
            if item.batch is not None:
                share.delivered += len(item.batch.index)
                yield item.batch

    share.features = _features_or_none(model, decoded(), autocast)
    return share


def _features_or_none(
    model: nn.Module, batches: Iterable[Batch], autocast: bool
) -> FeatureSet | None:
    """`extract_features` of the batches, None when there are none (an empty or all-bad share)."""
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return None
    return extract_features(model, itertools.chain([first], batches), "backbone", autocast)


def _in_row_order(parts: Sequence[FeatureSet]) -> FeatureSet:
    """The shares' rows in one set, sorted by split row (every share has the same fields)."""
    texts = [p.texts for p in parts]
    merged = FeatureSet(
        features=torch.cat([p.features for p in parts]),  # (N, F)
        labels=torch.cat([p.labels for p in parts]),
        index=torch.cat([p.index for p in parts]),
        attributes={
            name: torch.cat([p.attributes[name] for p in parts]) for name in parts[0].attributes
        },
        texts=None if any(t is None for t in texts) else torch.cat(texts),
    )
    return merged.subset(torch.argsort(merged.index))
