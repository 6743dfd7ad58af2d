"""The images of a record split, decoded one at a time when read, never all at once.

Evaluation on real data reads splits far larger than memory (ImageNet val at 224 px is 7.5 GB
of uint8 pixels), so an evaluation split keeps its `Record`s and decodes an image only when a
DataLoader asks for it. `RecordImages` stands where a split's (N, 3, S, S) uint8 tensor would
and indexes like it: an int decodes one image, a mask, index list or slice gives the lazy rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mmcl.data.formats.images import decode_image
from mmcl.data.formats.records import Record
from mmcl.data.formats.samples import record_captions
from mmcl.errors import MMCLError


@dataclass(frozen=True)
class RecordImages:
    """Images of `records` at `image_size` px, decoded on demand (a bad one raises `BadSample`)."""

    records: tuple[Record, ...]
    image_size: int

    def __len__(self) -> int:
        return len(self.records)

    @property
    def shape(self) -> torch.Size:
        """The shape of the uint8 tensor these images would fill: (N, 3, S, S)."""
        return torch.Size((len(self), 3, self.image_size, self.image_size))

    @property
    def files(self) -> list[str]:
        """Each row's image path ("" for a row its reader could not parse)."""
        return [record.image for record in self.records]

    def __getitem__(
        self, key: int | slice | torch.Tensor | Sequence[int]
    ) -> torch.Tensor | RecordImages:
        """Row `key` decoded to (3, S, S) uint8; or, for a slice, boolean mask or index list,
        those rows, still undecoded."""
        if isinstance(key, slice):
            return RecordImages(self.records[key], self.image_size)
        if not isinstance(key, int):
            key = torch.as_tensor(key)
        if isinstance(key, int) or key.ndim == 0:
            return checked_image(self.records[int(key)], self.image_size)
        if key.dtype == torch.bool:
            if key.shape != (len(self),):
                raise MMCLError(f"mask of shape {tuple(key.shape)} for {len(self)} images")
            key = key.nonzero().flatten()
        return RecordImages(tuple(self.records[i] for i in key.tolist()), self.image_size)


def checked_image(record: Record, image_size: int) -> torch.Tensor:
    """The record's decoded image, once the record passes the rule training and `mmcl data
    check` apply (`mmcl.data.formats.samples`); raises `BadSample` naming why not."""
    record_captions(record)
    return decode_image(record.image, image_size)


def first_caption(record: Record) -> str:
    return next((c for c in record.captions if c.strip()), "")
