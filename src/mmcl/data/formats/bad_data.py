"""Bad samples: the exception a loader raises, and the run-wide tally that decides to stop.

A corrupt or missing image, an empty or non-UTF-8 caption, a row that cannot be parsed: each
is one `BadEvent` (source = file:line or shard:key, reason), logged once per source and skipped. The
run stops with an `MMCLError` naming the worst offenders once the distinct bad samples exceed
`max_fraction` of the dataset (of the samples seen when its size is not known). A bad sample
met again in a later epoch is the same bad sample: counting it per epoch would stop a run that
`mmcl data check`, which reads every sample once, passed. The fraction is judged over at least
`1 / max_fraction` samples, so that one bad file does not stop a run whose data is 99.99%
clean; `max_fraction = 0` tolerates nothing. The tally travels in checkpoints (`state_dict`),
so a resumed run counts toward the same limit.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mmcl.errors import MMCLError

log = logging.getLogger(__name__)
WORST_SHOWN = 5  # offenders named in the stopping error


class BadSample(Exception):
    """One sample cannot be used; the message says why (the caller adds where)."""


@dataclass(frozen=True)
class BadEvent:
    source: str  # e.g. "train.csv:17", "shards-003.tar:000123", "captions_val.json:images[4]"
    reason: str


class BadDataLog:
    """Counts samples seen and bad ones, logs each bad source once, stops past the limit."""

    def __init__(self, max_fraction: float, known_size: int = 0, what: str = "data") -> None:
        self.max_fraction, self.known_size, self.what = max_fraction, known_size, what
        self.seen = 0
        self.bad = 0
        self.by_source: Counter[str] = Counter()
        self.reasons: dict[str, str] = {}

    def budget(self) -> float:
        """How many distinct bad samples are tolerated now."""
        if self.max_fraction <= 0:
            return 0.0
        base = max(self.known_size or self.seen, 1.0 / self.max_fraction)
        return self.max_fraction * base

    def record(self, delivered: int, events: Iterable[BadEvent]) -> None:
        """Add one batch: `delivered` good samples plus the bad ones met while filling it."""
        self.add(delivered, events)
        self.check()

    def add(self, delivered: int, events: Iterable[BadEvent], announce: bool = True) -> None:
        """Count without judging; `announce` logs each new bad source (a report prints its own)."""
        events = list(events)
        self.seen += delivered + len(events)
        for event in events:
            self.bad += 1
            if announce and event.source not in self.by_source:
                log.warning("skipping bad sample %s: %s", event.source, event.reason)
            self.by_source[event.source] += 1
            self.reasons[event.source] = event.reason

    def check(self) -> None:
        distinct = len(self.by_source)
        if distinct <= self.budget():
            return
        worst = ", ".join(
            f"{source} ({self.reasons[source]}) x{count}"
            for source, count in self.by_source.most_common(WORST_SHOWN)
        )
        raise MMCLError(
            f"{self.what}: {distinct} bad samples among {self.known_size or self.seen} exceed "
            f"data.max_bad_fraction={self.max_fraction:g}; worst offenders: {worst}. Fix or "
            f"remove them, or raise data.max_bad_fraction"
        )

    def state_dict(self) -> dict:
        return {
            "seen": self.seen,
            "bad": self.bad,
            "by_source": dict(self.by_source),
            "reasons": dict(self.reasons),
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.seen, self.bad = int(state["seen"]), int(state["bad"])
        self.by_source = Counter(state["by_source"])
        self.reasons = dict(state["reasons"])

    def summary(self) -> str:
        sources = len(self.by_source)
        return f"{self.bad} bad samples skipped among {self.seen} seen ({sources} sources)"


def combined_state(states: Sequence[Mapping]) -> dict:
    """One tally from several (every rank's): counts added, each source's last reason kept."""
    by_source: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    for state in states:
        by_source.update(state["by_source"])
        reasons.update(state["reasons"])
    return {
        "seen": sum(int(s["seen"]) for s in states),
        "bad": sum(int(s["bad"]) for s in states),
        "by_source": dict(by_source),
        "reasons": reasons,
    }
