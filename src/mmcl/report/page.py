"""The frame every mmcl report shares: one stylesheet and a header saying what ran, where, and
for how long, so a page read months later still says which configs its numbers came from.

Run, demo, sweep, `repro` and robustness pages all go through `page`; each run is named by its
config hash and seed, read from its own `results.json` and `metrics.jsonl`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mmcl
from mmcl.machine import machine_description

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; text-align: left; }
td.text { text-align: left; }
img { max-width: 100%; }
.meta td { text-align: left; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll th.model { position: sticky; left: 0; }
p.caption { font-size: 0.9em; color: #444; }
td.verdict.held { background: #dff0d8; } td.verdict.not-held { background: #f2dede; }
td.verdict.inconclusive { background: #eeeeee; }
figure.strip { margin: 0.5em 0 1em; } figure.strip figcaption { font-size: 0.85em; }
.samples { display: flex; flex-wrap: wrap; gap: 6px; }
.samples div { width: 96px; font-size: 0.7em; line-height: 1.2; overflow-wrap: anywhere; }
.samples img { width: 96px; height: 96px; image-rendering: pixelated; display: block; }
details { margin: 0.4em 0; }
@media print { .scroll { overflow: visible; } }
"""


@dataclass(frozen=True)
class RunLine:
    """One trained run as the header names it."""

    name: str
    config_hash: str
    seed: int | None
    method: str
    train_seconds: float | None  # wall time spent training (without evaluation), if logged


@dataclass
class Header:
    """What the page reports on: a sentence, the runs behind it, and the job's own wall time."""

    what: str
    runs: list[RunLine] = field(default_factory=list)
    seeds: Sequence[int] = ()
    wall_seconds: float | None = None  # the whole job (demo, sweep, repro), when it timed itself
    wall_note: str = ""  # what that time covers, e.g. how many runs it trained
    machine: str = ""  # default: the machine writing the page


def run_line(run_dir: Path) -> RunLine | None:
    """The header's line for a run folder, or None when it has no readable results.json."""
    try:
        meta = json.loads((run_dir / "results.json").read_text())["meta"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return RunLine(
        name=str(meta.get("run", run_dir.name)),
        config_hash=str(meta.get("config_hash", "-")),
        seed=meta.get("seed"),
        method=str(meta.get("method", "-")),
        train_seconds=_train_seconds(run_dir / "metrics.jsonl"),
    )


def _train_seconds(path: Path) -> float | None:
    """The last `train_s` that training logged (it counts across resumes)."""
    if not path.is_file():
        return None
    seconds = None
    for line in path.read_text().splitlines():
        try:
            seconds = json.loads(line).get("train_s", seconds)
        except ValueError:  # a line cut by a kill: the rows before it still count
            continue
    return seconds


def run_lines(run_dirs: Iterable[Path]) -> list[RunLine]:
    return [line for line in map(run_line, run_dirs) if line is not None]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def header_html(header: Header) -> str:
    """The table at the top of every page; the per-run list folds away when it is long."""
    seeds = header.seeds or sorted({r.seed for r in header.runs if r.seed is not None})
    trained = [r.train_seconds for r in header.runs if r.train_seconds is not None]
    rows = [
        ("what ran", header.what),
        ("seeds", ", ".join(map(str, seeds)) or "-"),
        ("runs", _runs_summary(header.runs, trained)),
        ("wall time", duration(header.wall_seconds) + _note(header.wall_note)),
        ("machine", header.machine or machine_description()),
        ("written by", f"mmcl {mmcl.__version__}, {_now()}"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='meta'>{body}</table>{_runs_table(header.runs)}"


def _note(text: str) -> str:
    return f" ({text})" if text else ""


def _runs_summary(runs: Sequence[RunLine], trained: Sequence[float]) -> str:
    if not runs:
        return "-"
    hashes = len({r.config_hash for r in runs})
    text = f"{len(runs)} ({hashes} distinct config hash{'es' if hashes != 1 else ''})"
    if trained:
        text += f"; {duration(sum(trained))} of training in all"
    return text


def _runs_table(runs: Sequence[RunLine]) -> str:
    if not runs:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("run", "config hash", "method", "seed", "training"))
    body = "".join(
        f"<tr><td class='text'>{html.escape(r.name)}</td>"
        f"<td class='text'><code>{html.escape(r.config_hash)}</code></td>"
        f"<td class='text'>{html.escape(r.method)}</td>"
        f"<td>{'-' if r.seed is None else r.seed}</td><td>{duration(r.train_seconds)}</td></tr>"
        for r in runs
    )
    table = f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"
    if len(runs) <= 3:
        return table
    summary = "<summary>every run: config hash, seed, training time</summary>"
    return f"<details>{summary}{table}</details>"


def page(title: str, header: Header | None, body: Sequence[str]) -> str:
    """A whole self-contained page: inline styles, the header, then `body`'s HTML parts."""
    top = header_html(header) if header is not None else ""
    return "\n".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            top,
            *body,
            "</body></html>",
        ]
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
