"""`mmcl data check`: read every sample of a dataset once, before a long job trains on it.

The dataset is loaded as training loads it (`load_train_source`: the same schema errors, and
compressed or truncated shards refused), and every sample is judged by the rule the training
datasets apply (`mmcl.data.formats.samples`), in threads, so that a corrupt or missing image, an
empty or non-UTF-8 caption, an empty label cell, a malformed row shows up here, named by its
source (file:line, shard:key) with its reason, instead of hours into a run. Whether the bad
samples exceed `data.max_bad_fraction` is judged by the same `BadDataLog` rule the trainer
applies, so check's exit status is training's. Check does not know the method: once the data
holds any caption it judges samples as a method that trains on captions would (a sample
without one is bad), and data with no caption at all is reported as such (image-only methods
train on it, text methods refuse it at start). The report adds what a user checks by eye:
caption lengths, class coverage, image sizes, and how many images EXIF turned upright.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mmcl.data.config import DataConfig
from mmcl.data.formats.bad_data import BadDataLog, BadEvent, BadSample
from mmcl.data.formats.records import Record, RecordSet
from mmcl.data.formats.samples import Judged, judge_record, judge_shard_sample
from mmcl.data.formats.webdataset_shards import RawSample, Shard, ShardSet, iter_samples
from mmcl.data.sources import load_train_source
from mmcl.errors import MMCLError

log = logging.getLogger(__name__)
CHUNK = 64  # samples per task handed to a thread
PROGRESS_EVERY = 10_000  # samples between progress lines


@dataclass(frozen=True)
class Outcome:
    """One sample as read: where from, and either its facts or why it is bad."""

    source: str
    error: str = ""
    size: tuple[int, int] = (0, 0)  # image width, height
    caption_words: tuple[int, ...] = ()  # words in each caption (the texts are not kept)
    label: int = -1
    turned: bool = False  # stored rotated or flipped (EXIF), turned upright when read
    no_caption: str = ""  # why it has no caption, as training would say it


@dataclass
class CheckReport:
    name: str
    fmt: str
    outcomes: list[Outcome]
    class_names: list[str] = field(default_factory=list)

    def bad(self) -> list[BadEvent]:
        """Bad samples in read order; without a caption counts as bad when others have one."""
        has_captions = any(o.caption_words for o in self.outcomes)
        events = []
        for o in self.outcomes:
            reason = o.error or (o.no_caption if has_captions else "")
            if reason:
                events.append(BadEvent(o.source, reason))
        return events

    def tally(self, max_fraction: float) -> BadDataLog:
        """The bad samples counted as the trainer counts them (`check()` raises past the limit)."""
        bad = self.bad()
        tally = BadDataLog(max_fraction, known_size=len(self.outcomes), what=self.name)
        tally.add(len(self.outcomes) - len(bad), bad, announce=False)
        return tally

    def lines(self, image_size: int, shown: int) -> list[str]:
        """The human-readable report."""
        bad = self.bad()
        total = len(self.outcomes)
        out = [
            f"{self.name} ({self.fmt}): {total} samples, {total - len(bad)} good, {len(bad)} bad"
        ]
        if bad:
            reasons = Counter(_reason_kind(e.reason) for e in bad)
            out.append("bad samples: " + ", ".join(f"{r} x{n}" for r, n in reasons.most_common()))
            out += [f"  {e.source}: {e.reason}" for e in bad[:shown]]
            if len(bad) > shown:
                out.append(f"  ... and {len(bad) - shown} more (--show N lists more)")
        good = {e.source for e in bad}
        good_outcomes = [o for o in self.outcomes if o.source not in good]
        out += _caption_lines(good_outcomes)
        out += _class_lines(good_outcomes, self.class_names)
        out += _size_lines(good_outcomes, image_size)
        out += _orientation_lines(good_outcomes)
        return out


def _reason_kind(reason: str) -> str:
    """The reason without its particulars, to group bad samples ("image cannot be decoded")."""
    return reason.split(" (")[0]


def _caption_lines(outcomes: list[Outcome]) -> list[str]:
    words = [n for o in outcomes for n in o.caption_words]
    if not words:
        example = next((f" ({o.source}: {o.no_caption})" for o in outcomes), "")
        return [
            f"captions: none{example}: image-only methods (simclr, supervised) train on this "
            "data, methods that train on captions (clip) refuse it"
        ]
    per_image = statistics.mean(len(o.caption_words) for o in outcomes)
    return [
        f"captions: {per_image:.1f} per image, {min(words)} to {max(words)} words "
        f"(mean {statistics.mean(words):.1f}, median {statistics.median(words):g})"
    ]


def _class_lines(outcomes: list[Outcome], class_names: list[str]) -> list[str]:
    counts = Counter(o.label for o in outcomes if o.label >= 0)
    if not counts:
        return ["classes: none (unlabelled)"]
    names = class_names or [str(k) for k in range(max(counts) + 1)]
    empty = [names[k] for k in range(len(names)) if counts[k] == 0]
    fewest = min(counts, key=lambda k: (counts[k], k))
    most = max(counts, key=lambda k: (counts[k], -k))
    line = (
        f"classes: {len(names) - len(empty)} of {len(names)} have samples (fewest: "
        f"{names[fewest]!r} with {counts[fewest]}, most: {names[most]!r} with {counts[most]})"
    )
    if empty:
        line += f"; none for {', '.join(empty[:10])}" + (" ..." if len(empty) > 10 else "")
    return [line]


def _size_lines(outcomes: list[Outcome], image_size: int) -> list[str]:
    sizes = [o.size for o in outcomes if o.size != (0, 0)]
    if not sizes:
        return []
    shorter = [min(w, h) for w, h in sizes]
    small = sum(1 for s in shorter if s < image_size)
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return [
        f"image sizes: width {min(widths)} to {max(widths)} (median "
        f"{statistics.median(widths):g}), height {min(heights)} to {max(heights)} (median "
        f"{statistics.median(heights):g}); {small} with a shorter side below "
        f"data.image_size={image_size} (upscaled)"
    ]


def _orientation_lines(outcomes: list[Outcome]) -> list[str]:
    turned = sum(o.turned for o in outcomes)
    return [
        f"EXIF orientation: {turned} of {len(outcomes)} images stored rotated or flipped "
        "(turned upright when read, in training too)"
    ]


def _outcome(source: str, judge: Callable[[], Judged]) -> Outcome:
    """The facts of a sample `judge` accepts, or the reason it gives for rejecting it."""
    try:
        judged = judge()
    except BadSample as error:
        return Outcome(source, error=str(error))
    return Outcome(
        source,
        size=judged.image.size,
        caption_words=tuple(len(c.split()) for c in judged.captions),
        label=judged.label,
        turned=judged.turned,
        no_caption=judged.no_caption,
    )


def _record_outcome(record: Record) -> Outcome:
    return _outcome(record.source, lambda: judge_record(record))


def _shard_outcomes(shard: Shard) -> list[Outcome]:
    def outcome(item: RawSample | BadEvent) -> Outcome:
        if isinstance(item, BadEvent):
            return Outcome(item.source, error=item.reason)
        return _outcome(item.source, lambda: judge_shard_sample(item))

    return [outcome(item) for item in iter_samples(shard.path)]


def _in_threads(tasks: Iterable, work: Callable, workers: int) -> Iterator:
    """`work` over `tasks` in order, on `workers` threads (Pillow decodes without the GIL)."""
    if workers <= 1:
        yield from map(work, tasks)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(work, tasks)


def _gathered(chunks: Iterable[list[Outcome]], what: str) -> list[Outcome]:
    """All outcomes, with a progress line now and then (a large dataset takes minutes)."""
    outcomes: list[Outcome] = []
    for chunk in chunks:
        before = len(outcomes)
        outcomes += chunk
        if len(outcomes) // PROGRESS_EVERY > before // PROGRESS_EVERY:
            log.info("%s: %d samples read", what, len(outcomes))
    return outcomes


def check_dataset(cfg: DataConfig, workers: int = 4) -> CheckReport:
    """Read every sample of `cfg.path` once; what stops training at start (a schema error, a
    compressed or truncated shard) raises `MMCLError` here too."""
    if cfg.format == "world":
        raise MMCLError(
            f"mmcl data check reads a dataset on disk; for the {cfg.world} world run "
            f"`mmcl data check {cfg.world}`"
        )
    return load_train_source(cfg).visit(_Check(cfg, workers))


@dataclass(frozen=True)
class _Check:
    """`check_dataset`'s visitor: every sample of a source read and judged, in threads."""

    cfg: DataConfig
    workers: int

    def shards(self, source: ShardSet) -> CheckReport:
        chunks = _in_threads(source, _shard_outcomes, self.workers)
        return CheckReport(self.cfg.path, self.cfg.format, _gathered(chunks, self.cfg.path))

    def records(self, source: RecordSet) -> CheckReport:
        records = source.records
        parts = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
        chunks = _in_threads(parts, lambda part: [_record_outcome(r) for r in part], self.workers)
        outcomes = _gathered(chunks, source.name)
        return CheckReport(source.name, self.cfg.format, outcomes, list(source.class_names))
