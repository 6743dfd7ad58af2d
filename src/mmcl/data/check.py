"""`mmcl data check`: read every sample of a dataset once, before a long job trains on it.

Each sample is decoded as training would decode it (the same reader, `open_rgb` and caption
rules), in threads, so a corrupt or missing image, an empty or non-UTF-8 caption, a malformed
row, a truncated shard shows up here, named by its source (file:line, shard:key) with its
reason, instead of hours into a run. The report adds what a user checks by eye: caption lengths,
class coverage and image sizes. Whether the bad samples exceed `data.max_bad_fraction` is judged
by the same `BadDataLog` rule the trainer applies, so a dataset that passes here does not stop a
run for its bad samples.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mmcl.data.formats.bad_data import BadDataLog, BadEvent, BadSample
from mmcl.data.formats.images import open_rgb
from mmcl.data.formats.readers import ReaderOptions, read_records
from mmcl.data.formats.records import Record
from mmcl.data.formats.webdataset_shards import RawSample, iter_samples, shard_paths
from mmcl.data.record_dataset import choose_caption

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
            reason = o.error or ("empty caption" if has_captions and not o.caption_words else "")
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
        return out


def _reason_kind(reason: str) -> str:
    """The reason without its particulars, to group bad samples ("image cannot be decoded")."""
    return reason.split(" (")[0]


def _caption_lines(outcomes: list[Outcome]) -> list[str]:
    words = [n for o in outcomes for n in o.caption_words]
    if not words:
        return ["captions: none"]
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


def _checked(source: str, load: Callable[[], tuple[object, tuple[str, ...], int]]) -> Outcome:
    """Run `load` -> (image, captions, label); a `BadSample` becomes the outcome's error."""
    try:
        image, captions, label = load()
        if captions:
            choose_caption(captions, 0)  # empty or non-UTF-8 captions fail as in training
        words = tuple(len(c.split()) for c in captions)
        return Outcome(source, size=image.size, caption_words=words, label=label)
    except BadSample as error:
        return Outcome(source, error=str(error))


def _record_outcome(record: Record) -> Outcome:
    def load():
        if record.error:
            raise BadSample(record.error)
        return open_rgb(record.image), record.captions, record.label

    return _checked(record.source, load)


def _shard_outcomes(path: str) -> list[Outcome]:
    def outcome(item: RawSample | BadEvent) -> Outcome:
        if isinstance(item, BadEvent):
            return Outcome(item.source, error=item.reason)
        return _checked(
            item.source, lambda: (open_rgb(item.image_bytes()), item.captions(), item.label())
        )

    return [outcome(item) for item in iter_samples(path)]


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


def check_dataset(fmt: str, path: str, options: ReaderOptions, workers: int = 4) -> CheckReport:
    """Read every sample of `path` once (schema errors raise `MMCLError` as in training)."""
    if fmt == "webdataset":
        chunks = _in_threads(shard_paths(path), _shard_outcomes, workers)
        return CheckReport(path, fmt, _gathered(chunks, path))
    records = read_records(fmt, path, options)
    parts = [records.records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    chunks = _in_threads(parts, lambda part: [_record_outcome(r) for r in part], workers)
    outcomes = _gathered(chunks, records.name)
    return CheckReport(records.name, fmt, outcomes, list(records.class_names))
