"""Streaming webdataset shards into fixed-shape `Batch`es, split per rank and per worker.

Every (rank, worker) slot owns a fixed group of shards (balanced by sample count), reads them
in a per-epoch order through a shuffle buffer and cuts local batches. All slots yield the same
number of batches, so every rank takes the same number of steps (the collectives of the
global-batch loss need that) and no sample is read twice per epoch; with balanced shards every
sample is read exactly once. DataLoader workers are polled round-robin, so global batch b of a
rank comes from logical worker b mod W.

Resume: the position is (epoch, batch). Everything is a function of (seed, epoch, slot), so a
worker replays its stream from the epoch start without decoding images and skips the batches
already trained on. That only works if every batch consumes exactly `batch` samples from the
stream: a bad sample is therefore replaced by a copy of another sample of the same batch,
never by fetching one more.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch
from torch.utils.data import IterableDataset, get_worker_info

from mmcl.data.formats.bad_data import BadDataLog, BadEvent, BadSample
from mmcl.data.formats.images import to_tensor
from mmcl.data.formats.samples import judge_shard_sample
from mmcl.data.formats.webdataset_shards import RawSample, Shard, iter_samples
from mmcl.data.record_dataset import BatchEncoder, LoadedBatch
from mmcl.data.seeds import mix
from mmcl.errors import MMCLError


def partition(shards: list[Shard], slots: int) -> list[list[Shard]]:
    """Greedy balanced split: largest shard first to the slot with the fewest samples."""
    groups: list[list[Shard]] = [[] for _ in range(slots)]
    totals = [0] * slots
    for shard in sorted(shards, key=lambda s: (-s.n_samples, s.path)):
        slot = min(range(slots), key=lambda i: (totals[i], i))
        groups[slot].append(shard)
        totals[slot] += shard.n_samples
    return groups


def shuffle_buffer(
    items: Iterator[RawSample | BadEvent], size: int, rng: random.Random
) -> Iterator[RawSample | BadEvent]:
    """Reservoir-style shuffle of a stream with `size` items held (events pass straight on)."""
    buffer: list[RawSample] = []
    for item in items:
        if isinstance(item, BadEvent):
            yield item
            continue
        buffer.append(item)
        if len(buffer) >= size:
            j = rng.randrange(len(buffer))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


class ShardStream(IterableDataset):
    """Iterable dataset of `LoadedBatch`es; also the trainer's sampler (len, set_position)."""

    own_sampler = True  # it cuts its own batches; the trainer only sets its position
    reports_bad = True  # fetches are `LoadedBatch`es: the bad samples met travel with them

    def __init__(
        self,
        shards: list[Shard],
        encoder: BatchEncoder,
        local_batch: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        workers: int = 1,
        buffer: int = 1000,
    ) -> None:
        self.encoder, self.local_batch, self.seed = encoder, local_batch, seed
        self.rank, self.world_size, self.workers, self.buffer = rank, world_size, workers, buffer
        self.n_samples = sum(s.n_samples for s in shards)
        self.groups = partition(shards, world_size * workers)
        smallest = min(sum(s.n_samples for s in g) for g in self.groups)
        self.per_worker = smallest // local_batch  # batches each slot yields per epoch
        if self.per_worker == 0:
            raise MMCLError(
                f"{len(shards)} shard(s) with {self.n_samples} samples cannot give each of "
                f"{world_size} rank(s) x {workers} worker(s) a batch of {local_batch}: the "
                f"smallest share has {smallest}; write more shards or lower data.num_workers"
            )
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        return self.per_worker * self.workers

    @property
    def known_size(self) -> int:
        """Samples the bad-data tally judges a fraction of: every sample counted at start."""
        return self.n_samples

    def set_position(self, epoch: int, batch_in_epoch: int) -> None:
        self.epoch, self.start_batch = epoch, batch_in_epoch

    def _logical_worker(self) -> int:
        """Physical worker p serves the logical worker whose batch comes p-th after resuming."""
        info = get_worker_info()
        physical = info.id if info is not None else 0
        return (physical + self.start_batch) % self.workers

    def _stream(self, slot: int) -> Iterator[RawSample | BadEvent]:
        rng = random.Random(mix(self.seed, self.epoch, slot))
        shards = list(self.groups[slot])
        rng.shuffle(shards)

        def samples() -> Iterator[RawSample | BadEvent]:
            for shard in shards:
                for item in iter_samples(shard.path):
                    if isinstance(item, RawSample):
                        item.position += shard.offset  # from here on: the global index
                    yield item

        return shuffle_buffer(samples(), self.buffer, rng)

    def __iter__(self) -> Iterator[LoadedBatch]:
        worker = self._logical_worker()
        stream = self._stream(self.rank * self.workers + worker)
        done = -(-max(0, self.start_batch - worker) // self.workers)  # batches before start
        for b in range(self.per_worker):
            raw, events = [], []
            while len(raw) < self.local_batch:
                item = next(stream, None)
                if item is None:
                    raise MMCLError(
                        f"shards {[s.path for s in self.groups[self.rank * self.workers + worker]]}"
                        " yield fewer samples than counted at start: were they rewritten?"
                    )
                (events if isinstance(item, BadEvent) else raw).append(item)
            if b >= done:
                yield self._encode(raw, events, mix(self.seed, self.epoch, self.rank, b, worker))

    def _decode(self, sample: RawSample) -> tuple[torch.Tensor, str, int]:
        judged = judge_shard_sample(sample)  # the rule `mmcl data check` applies
        caption = ""
        if self.encoder.needs_text:
            caption = judged.caption(mix(self.seed, self.epoch, sample.position))
        return to_tensor(judged.image, self.encoder.image_size), caption, judged.label

    def _encode(self, raw: list[RawSample], events: list[BadEvent], view_seed: int) -> LoadedBatch:
        decoded: list[tuple[torch.Tensor, str, int, int] | None] = []
        for sample in raw:
            try:
                decoded.append((*self._decode(sample), sample.position))
            except BadSample as error:
                events.append(BadEvent(sample.source, str(error)))
                decoded.append(None)
        good = [d for d in decoded if d is not None]
        if not good:
            last = events[-1]
            raise MMCLError(f"every sample of a batch is bad (last: {last.source}: {last.reason})")
        # A bad slot takes the next good sample of the batch (cyclically): fixed shapes.
        filled = [d if d is not None else good[i % len(good)] for i, d in enumerate(decoded)]
        images, captions, labels, index = (list(column) for column in zip(*filled, strict=True))
        batch = self.encoder.encode(images, captions, labels, index, view_seed)
        return LoadedBatch(batch, events)


def first_samples(
    shards: list[Shard], image_size: int, limit: int | None, bad: BadDataLog
) -> tuple[list[torch.Tensor], list[str], list[int]]:
    """Decode the first `limit` good samples in shard order (previews, evaluation)."""
    images, captions, labels, events = [], [], [], []
    for shard in shards:
        for item in iter_samples(shard.path):
            if limit is not None and len(images) >= limit:
                break
            if isinstance(item, BadEvent):
                events.append(item)
                continue
            try:
                judged = judge_shard_sample(item)
            except BadSample as error:
                events.append(BadEvent(item.source, str(error)))
                continue
            images.append(to_tensor(judged.image, image_size))
            captions.append(next(iter(judged.captions), ""))
            labels.append(judged.label)
    bad.record(len(images), events)
    return images, captions, labels
