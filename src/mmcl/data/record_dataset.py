"""Real-format samples to `Batch`es: decode, resize, normalize, tokenize, augment, skip bad ones.

`BatchEncoder` turns decoded samples into a `Batch` exactly as `WorldDataset` does (same
`normalize`, same batched SimCLR views); `RecordDataset` is the map-style dataset over any
`RecordSet` (CSV, COCO, ImageFolder, ImageNet-Captions). A bad sample (missing or corrupt
image, empty or non-UTF-8 caption) is replaced by another index drawn from (seed, index,
attempt), so batch shapes stay fixed and a resumed run loads the same replacements; the
`BadEvent`s travel with the batch (`LoadedBatch`) to the main process, where `BadDataLog`
counts them, also from DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from mmcl.data.batch import Batch
from mmcl.data.formats.bad_data import BadDataLog, BadEvent, BadSample
from mmcl.data.formats.images import to_tensor
from mmcl.data.formats.records import Record, RecordSet
from mmcl.data.formats.samples import judge_record
from mmcl.data.record_images import RecordImages, checked_image, first_caption
from mmcl.data.seeds import mix
from mmcl.data.world_dataset import ViewTransform, normalize
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError

MAX_REPLACEMENTS = 16  # draws before a batch slot gives up (only near-all-bad data gets there)


@dataclass
class LoadedBatch:
    """A batch plus the bad samples met while filling it (counted in the main process)."""

    batch: Batch
    bad: list[BadEvent] = field(default_factory=list)


def collate_loaded(item: LoadedBatch) -> LoadedBatch:
    """DataLoader `collate_fn` for datasets that already return a `LoadedBatch`."""
    return item


@dataclass
class BatchEncoder:
    """Decoded samples -> Batch. tokenizer: captions -> (N, L) ids, None for image-only methods."""

    image_size: int
    tokenizer: Callable[[list[str]], torch.Tensor] | None = None
    view_transform: ViewTransform | None = None
    n_views: int = 0

    @property
    def needs_text(self) -> bool:
        return self.tokenizer is not None

    def encode(
        self,
        images: list[torch.Tensor],
        captions: list[str],
        labels: list[int],
        index: list[int],
        view_seed: int = 0,
    ) -> Batch:
        """view_seed: the views' random draws, fixed per batch so that they do not depend on
        which DataLoader worker (or resumed process) builds the batch."""
        raw = torch.stack(images)  # (B, 3, S, S) uint8
        return Batch(
            images=normalize(raw),
            labels=torch.tensor(labels, dtype=torch.long),
            index=torch.tensor(index, dtype=torch.long),
            texts=self.tokenizer(captions) if self.tokenizer is not None else None,
            views=self._views(raw, view_seed) if self.n_views > 0 else None,
        )

    def _views(self, raw: torch.Tensor, seed: int) -> torch.Tensor:
        """(B, V, 3, S, S) normalized views, all B * V drawn in one transform call."""
        b, v = raw.shape[0], self.n_views
        generator = torch.Generator().manual_seed(seed % 2**63)
        repeated = raw.repeat_interleave(v, dim=0)  # (B*V, 3, H, W), sample-major
        views = normalize(self.view_transform(repeated, generator))  # (B*V, 3, S, S)
        return views.view(b, v, *views.shape[1:])


class RecordDataset(Dataset):
    """Map-style dataset over a `RecordSet`; every fetch returns a `LoadedBatch`."""

    own_sampler = False  # the trainer's sampler chooses its indices
    reports_bad = True  # fetches are `LoadedBatch`es: the bad samples met travel with them

    def __init__(self, records: RecordSet, encoder: BatchEncoder, seed: int = 0) -> None:
        self.records, self.encoder, self.seed = records, encoder, seed
        self.epoch = 0  # captions are drawn per (seed, epoch, index)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def known_size(self) -> int:
        """Samples the bad-data tally judges a fraction of."""
        return len(self)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def load(self, index: int) -> tuple[torch.Tensor, str]:
        """(3, S, S) uint8 image and its caption for this epoch ("" for image-only methods)."""
        judged = judge_record(self.records.records[index])  # the rule `mmcl data check` applies
        caption = ""
        if self.encoder.needs_text:
            caption = judged.caption(mix(self.seed, self.epoch, index))
        return to_tensor(judged.image, self.encoder.image_size), caption

    def replacement(self, index: int, attempt: int) -> int:
        return mix(self.seed, index, attempt) % len(self)

    def __getitem__(self, index: int) -> LoadedBatch:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> LoadedBatch:
        images, captions, labels, used, bad = [], [], [], [], []
        for index in indices:
            chosen = int(index)
            for attempt in range(MAX_REPLACEMENTS):
                try:
                    image, caption = self.load(chosen)
                    break
                except BadSample as error:
                    bad.append(BadEvent(self.records.records[chosen].source, str(error)))
                    chosen = self.replacement(int(index), attempt)
            else:
                raise MMCLError(
                    f"{self.records.name}: {MAX_REPLACEMENTS} samples in a row are bad "
                    f"(last: {bad[-1].source}: {bad[-1].reason}); is the data readable at all?"
                )
            images.append(image)
            captions.append(caption)
            labels.append(self.records.records[chosen].label)
            used.append(chosen)
        view_seed = mix(self.seed, self.epoch, *map(int, indices))
        return LoadedBatch(self.encoder.encode(images, captions, labels, used, view_seed), bad)


def records_to_split(
    records: RecordSet,
    image_size: int,
    name: str,
    prompt_templates: Sequence[str],
    bad_log: BadDataLog,
    limit: int | None = None,
) -> WorldSplit:
    """Decode the records (or `limit` of them, spread over the classes) into an in-memory split.

    Bad samples are dropped (and counted in `bad_log`); the first caption stands for each image
    in `captions`, and `caption_sets` keeps all of them when some image has several.
    """
    images, kept, bad = [], [], []
    chosen = class_balanced_indices([r.label for r in records.records], limit)
    for record in (records.records[i] for i in chosen):
        try:
            images.append(checked_image(record, image_size))
            kept.append(record)
        except BadSample as error:
            bad.append(BadEvent(record.source, str(error)))
    bad_log.record(len(kept), bad)
    if not kept:
        raise MMCLError(f"{records.name}: no readable images to evaluate on")
    pixels = torch.stack(images)  # (N, 3, S, S) uint8
    return _split_of(records, kept, pixels, name, prompt_templates)


def lazy_records_split(
    records: RecordSet,
    image_size: int,
    name: str,
    prompt_templates: Sequence[str],
    limit: int | None = None,
) -> WorldSplit:
    """The records (or `limit` of them, spread over the classes) as a split for evaluation whose
    images stay on disk (`RecordImages`): each is decoded when a loader reads it, and a bad one
    is found, counted and skipped then, so its row is still here."""
    chosen = class_balanced_indices([r.label for r in records.records], limit)
    kept = [records.records[i] for i in chosen]
    if not kept:
        raise MMCLError(f"{records.name}: no images to evaluate on")
    images = RecordImages(tuple(kept), image_size)
    return _split_of(records, kept, images, name, prompt_templates)


def _split_of(
    records: RecordSet,
    kept: list[Record],
    images: torch.Tensor | RecordImages,
    name: str,
    prompt_templates: Sequence[str],
) -> WorldSplit:
    """The split of records `kept` (one per row of `images`) with their annotations."""
    return WorldSplit(
        name=name,
        images=images,
        labels=torch.tensor([r.label for r in kept], dtype=torch.long),
        attributes={},
        attribute_values={},
        captions=[first_caption(r) for r in kept],
        class_names=list(records.class_names),
        prompt_templates=list(prompt_templates),
        description=f"{records.name}",
        caption_sets=(
            [[c for c in r.captions if c.strip()] for r in kept]
            if any(len(r.captions) > 1 for r in kept)
            else []
        ),
    )


def class_balanced_indices(labels: Sequence[int], limit: int | None, seed: int = 0) -> list[int]:
    """`limit` indices (all when None) taken round-robin over the labels, each label's order
    shuffled by `seed`, returned ascending: a seeded, class-stratified subset.

    Folders list their images class by class, so "the first N" of an ImageFolder would hold a
    handful of classes (3 of ImageNet's 1,000 for a 4,000-image probe).
    """
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(int(label), []).append(index)
    queues = [list(rng.permutation(indices)) for _, indices in sorted(by_label.items())]
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(int(queue.pop()))
    return sorted(chosen)
