"""A torch Dataset over a split whose images are on disk (`RecordImages`): a fetch decodes one
batch, so evaluation holds a few batches of pixels at a time, never the split.

A row whose image cannot be used is left out of its batch and reported as a `BadEvent` beside
it (`DecodedRows`), so the main process counts it toward data.max_bad_fraction, also when a
DataLoader worker decoded it. Kept rows carry their split index in `Batch.index`, which is what
keeps features aligned with the split's labels and caption sets when a row is skipped. Batches
are made as `WorldDataset` makes them (`BatchEncoder`: same normalize, same tokens), so features
do not depend on whether a split was streamed or decoded into memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from mmcl.data.batch import Batch
from mmcl.data.formats.bad_data import BadEvent, BadSample
from mmcl.data.record_dataset import BatchEncoder
from mmcl.data.record_images import RecordImages
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError


@dataclass
class DecodedRows:
    """The rows of one fetch that decoded (None when none did) and the bad ones met."""

    batch: Batch | None
    bad: list[BadEvent] = field(default_factory=list)


def collate_decoded(item: DecodedRows) -> DecodedRows:
    """DataLoader `collate_fn` for `LazySplitDataset`, whose fetches are already batches."""
    return item


def one_torch_thread(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: decoding workers share the cores, so one thread each."""
    torch.set_num_threads(1)


class LazySplitDataset(Dataset):
    """Map-style dataset over a split with `RecordImages`; every fetch returns `DecodedRows`.

    tokenizer: list[str] -> (N, L) ids; when given, `Batch.texts` holds each row's caption.
    """

    def __init__(
        self, split: WorldSplit, tokenizer: Callable[[list[str]], torch.Tensor] | None = None
    ) -> None:
        if not isinstance(split.images, RecordImages):
            raise MMCLError(
                f"split {split.name!r} holds its images in memory; read it with WorldDataset"
            )
        self.split = split
        self.images: RecordImages = split.images
        self.encoder = BatchEncoder(split.image_size, tokenizer)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> DecodedRows:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> DecodedRows:
        images, kept, bad = [], [], []
        for index in map(int, indices):
            try:
                images.append(self.images[index])  # (3, S, S) uint8
                kept.append(index)
            except BadSample as error:
                bad.append(BadEvent(self.images.records[index].source, str(error)))
        if not kept:
            return DecodedRows(None, bad)
        captions = [self.split.captions[i] for i in kept]
        labels = [int(self.split.labels[i]) for i in kept]
        return DecodedRows(self.encoder.encode(images, captions, labels, kept), bad)
