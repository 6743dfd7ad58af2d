"""The run report: one self-contained `report.html` per run folder, or one for several runs.

Self-contained means it can be mailed: the CSS is inline and the bar chart is embedded as a
base64 data URI (the PNG is also left beside the page). The "what this shows" paragraph is
computed from the table it sits under, so it can never disagree with the numbers. Every file is
written atomically, so a failed report leaves the previous one (or none) in place, never half.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mmcl
from mmcl.errors import MMCLError
from mmcl.eval.tasks import read_results
from mmcl.io import atomic_write_text
from mmcl.report.plots import accuracy_bar_chart, chart_series, png_data_uri, save_png
from mmcl.report.tables import HEADLINE_TASKS, Table, format_html, shift_table
from mmcl.report.training_curves import PANELS, Curve, training_curves_figure
from mmcl.report.trajectory import trajectory_figure, trajectory_of
from mmcl.train.metrics_log import read_metrics

REPORT_NAME = "report.html"
RESULTS_NAME = "results.json"

# What the meta block shows, and the keys of results.json "meta" (or of records) it looks in.
META_FIELDS = {
    "mmcl version": ("mmcl_version", "version"),
    "created": ("created", "created_at", "time"),
    "config hash": ("config_hash",),
    "seed": ("seed",),
}


@dataclass
class ReportConfig:
    """How to read the records: the in-distribution split and the headline-task priority."""

    id_split: str = "id"
    headline_tasks: tuple[str, ...] = HEADLINE_TASKS  # first task a model has is its headline
    include_probe: bool = True  # hatched linear-probe bars in the chart


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; text-align: left; }
td.text { text-align: left; }
img { max-width: 100%; }
.meta td { text-align: left; }
.scroll { overflow-x: auto; max-width: 100%; }
td.verdict.held { background: #dff0d8; } td.verdict.not-held { background: #f2dede; }
td.verdict.inconclusive { background: #eeeeee; }
"""


def _drops(table: Table, shift: str) -> list[tuple[str, float]]:
    """(model, drop in points) for every model with a drop on `shift`."""
    for j, column in enumerate(table.columns):
        if column.group == "drop" and column.split == shift:
            return [
                (model, float(row[j]))
                for model, row in zip(table.rows, table.cells, strict=True)
                if row[j] is not None
            ]
    return []


def least_drop(table: Table, shift: str) -> tuple[list[str], float] | None:
    """The models (several on a tie) with the smallest id-minus-shift drop, and that drop."""
    drops = _drops(table, shift)
    if not drops:
        return None
    best = min(d for _, d in drops)
    return [m for m, d in drops if math.isclose(d, best, abs_tol=1e-9)], best


def summary_sentences(table: Table, id_split: str = "id") -> list[str]:
    """One sentence per shift: who drops least from `id_split` to it, and by how many points."""
    shifts = [c.split for c in table.columns if c.group == "drop"]
    sentences = []
    for shift in shifts:
        drops = _drops(table, shift)
        least = least_drop(table, shift)
        if least is None:
            continue
        models, best = least
        who = " and ".join(models)
        if len(drops) == 1:
            sentences.append(
                f"From {id_split} to {shift}, {who} (the only model with both) changes by "
                f"{_points(best)}."
            )
            continue
        worst_model, worst = max(drops, key=lambda md: md[1])
        sentences.append(
            f"From {id_split} to {shift}, {who} drops least ({_points(best)}); "
            f"{worst_model} drops most ({_points(worst)})."
        )
    return sentences


def _points(drop: float) -> str:
    if drop < 0:
        return f"gains {-drop:.1f} points"
    return f"{drop:.1f} points"


def _meta_value(metas: Sequence[dict[str, Any]], records: Sequence[dict], keys: tuple) -> str:
    """The distinct values of the first of `keys` in each run's meta; else in the records."""
    for sources in (metas, records):
        found = dict.fromkeys(
            str(next(source[k] for k in keys if k in source))
            for source in sources
            if any(k in source for k in keys)
        )
        if found:
            return ", ".join(found)
    return "-"


def _meta_table(metas: Sequence[dict[str, Any]], records: Sequence[dict], runs: list[str]) -> str:
    rows = [("runs", ", ".join(runs) or "-")]
    rows += [(label, _meta_value(metas, records, keys)) for label, keys in META_FIELDS.items()]
    rows.append(("report written by", f"mmcl {mmcl.__version__}, {_now()}"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='meta'>{body}</table>"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def render_report(
    title: str,
    metas: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    chart: Path | None,
    sections: Sequence[str] = (),
    runs: Sequence[str] = (),
    config: ReportConfig | None = None,
) -> str:
    """The whole page as a string: title, meta, shift table, chart, summary, extra sections."""
    cfg = config or ReportConfig()
    table = shift_table(records, cfg.id_split, cfg.headline_tasks)
    sentences = summary_sentences(table, cfg.id_split) or ["No model has both an id and a shift."]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _meta_table(metas, records, list(runs)),
        "<h2>Accuracy under shift</h2>",
        "<p>Accuracies in %; <em>drop</em> is id minus shift in points, of the headline task; "
        "<em>probe</em> is a linear probe on frozen features; <em>attr</em> an attribute probe."
        "</p>",
        format_html(table) if table.rows else "<p>No accuracy records.</p>",
    ]
    if chart is not None:
        alt = "accuracy per split, one bar per model; hatched bars are linear probes"
        parts.append(f"<img alt='{alt}' src='{png_data_uri(chart)}'/>")
    parts.append("<h2>What this shows</h2>")
    parts.append("<p>" + " ".join(html.escape(s) for s in sentences) + "</p>")
    parts += list(sections)
    parts.append("</body></html>")
    return "\n".join(parts)


def _write(
    out: Path,
    title: str,
    metas: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    sections: Sequence[str],
    runs: Sequence[str],
    config: ReportConfig | None,
) -> Path:
    """Chart beside `out` (when there are accuracies), then the page, both atomically."""
    cfg = config or ReportConfig()
    chart = None
    if has_bars(shift_table(records, cfg.id_split, cfg.headline_tasks), cfg.include_probe):
        chart = accuracy_bar_chart(
            records,
            out.with_name(f"{out.stem}_accuracy.png"),
            cfg.include_probe,
            cfg.id_split,
            cfg.headline_tasks,
        )
    page = render_report(title, metas, records, chart, sections, runs, cfg)
    atomic_write_text(out, page)
    return out


def has_bars(table: Table, include_probe: bool) -> bool:
    """True when the accuracy chart would draw at least one bar (not only attribute probes)."""
    _, bars = chart_series(table, include_probe)
    return any(math.isfinite(v) for bar in bars for v in bar.values)


def training_section(run_dirs: Sequence[Path], out: Path) -> str:
    """Training curves of every run folder that logged `metrics.jsonl`, and, for runs trained
    with `eval.every`, their paths on the id-shift plane (PNGs beside `out`)."""
    curves, trajectories = [], []
    for index, run_dir in enumerate(run_dirs):
        path = run_dir / "metrics.jsonl"
        rows = read_metrics(path) if path.is_file() else []
        colour = f"C{index % 10}"
        logged = [k for k in PANELS if any(k in row for row in rows)]
        trained = [row for row in rows if "loss" in row]
        if trained:
            values = {k: [row.get(k) for row in trained] for k in logged}
            curves.append(Curve(run_dir.name, colour, [row["step"] for row in trained], values))
        trajectory = trajectory_of(run_dir.name, colour, rows)
        if trajectory is not None:
            trajectories.append(trajectory)
    parts = []
    if curves:
        png = save_png(
            training_curves_figure(curves), out.with_name(f"{out.stem}_training.png"), dpi=100
        )
        parts.append(
            f"<h2>Training curves</h2><img alt='training curves' src='{png_data_uri(png)}'/>"
        )
    if trajectories:
        png = save_png(
            trajectory_figure(trajectories), out.with_name(f"{out.stem}_trajectory.png"), dpi=100
        )
        parts.append(
            "<h2>Robustness over training</h2><p>Accuracy on id against each shift every "
            "<code>eval.every</code> steps, logit axes: a path parallel to the baseline line "
            "gains no effective robustness.</p>"
            f"<img alt='id-shift trajectory over training' src='{png_data_uri(png)}'/>"
        )
    return "\n".join(parts)


def write_report(
    run_dir: str | Path,
    results: dict[str, Any],
    title: str = "mmcl run report",
    sections: Sequence[str] = (),
    config: ReportConfig | None = None,
) -> Path:
    """Write `run_dir/report.html` from a results dict `{"meta", "records"}`; return its path."""
    run_dir = Path(run_dir)
    meta, records = results.get("meta", {}), results.get("records", [])
    out = run_dir / REPORT_NAME
    sections = [*sections, *filter(None, [training_section([run_dir], out)])]
    return _write(out, title, [meta], records, sections, [run_dir.name], config)


def merge_runs(results: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """All runs' records, each tagged with `run`; a model name found in several runs is
    renamed `model [run]` so that two seeds of one method stay two rows."""
    runs_of: dict[str, set[str]] = {}
    for run, data in results:
        for r in data["records"]:
            runs_of.setdefault(r["model"], set()).add(run)
    merged = []
    for run, data in results:
        for r in data["records"]:
            model = r["model"] if len(runs_of[r["model"]]) == 1 else f"{r['model']} [{run}]"
            merged.append(r | {"model": model, "run": r.get("run", run)})
    return merged


def report_runs(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    title: str = "mmcl report",
    sections: Sequence[str] = (),
    config: ReportConfig | None = None,
) -> Path:
    """One report merging the `results.json` of several run folders, written to `out`."""
    if not run_dirs:
        raise MMCLError("mmcl report needs at least one run folder holding a results.json")
    dirs = [Path(d) for d in run_dirs]
    names = [d.resolve().name for d in dirs]
    if len(set(names)) != len(names):
        names = [str(d) for d in dirs]
    loaded = [(name, read_results(d / RESULTS_NAME)) for name, d in zip(names, dirs, strict=True)]
    metas = [data["meta"] for _, data in loaded]
    sections = [*sections, *filter(None, [training_section(dirs, Path(out))])]
    return _write(Path(out), title, metas, merge_runs(loaded), sections, names, config)


CLAIM_COLUMNS = ("id", "statement", "paper", "ours", "rule")
VERDICT_CLASS = {"held": "held", "not held": "not-held", "inconclusive": "inconclusive"}


def claims_html(claims: Sequence[dict], preamble: str = "", heading: str = "Claims") -> str:
    """A paper's claims table (claim, statement, paper, ours with its interval, rule, verdict).

    The verdict cell is colour-coded: green held, red not held, grey inconclusive.
    """
    rows = "".join(
        "<tr>"
        + "".join(f"<td class='text'>{html.escape(str(c[k]))}</td>" for k in CLAIM_COLUMNS)
        + f"<td class='text verdict {VERDICT_CLASS[c['verdict']]}'>"
        + f"{html.escape(c['verdict'])} ({c['n_seeds']} seeds)</td></tr>"
        for c in claims
    )
    head = "".join(f"<th>{k}</th>" for k in ("claim", "statement", "paper", "ours", "rule"))
    intro = f"<p>{html.escape(preamble)}</p>" if preamble else ""
    return (
        f"{f'<h2>{heading}</h2>' if heading else ''}{intro}"
        f"<div class='scroll'><table><tr>{head}<th>verdict</th></tr>"
        f"{rows}</table></div>"
    )


def checks_html(checks: Sequence[dict]) -> str:
    """Identities and closed-form checks: pass/fail within their tolerance, apart from claims."""
    if not checks:
        return ""
    rows = "".join(
        f"<tr><td class='text'>{html.escape(c['id'])}</td>"
        f"<td class='text'>{html.escape(c['statement'])}</td>"
        f"<td>{c['error']:.3g}</td><td>{c['tolerance']:.3g}</td>"
        f"<td class='text verdict {'held' if c['passed'] else 'not-held'}'>"
        f"{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in checks
    )
    head = "".join(f"<th>{k}</th>" for k in ("check", "statement", "error", "tolerance", "result"))
    head = f"<tr>{head}</tr>"
    intro = (
        "<p>Identities and closed forms: they can fail only through a bug, so they are checks of "
        "the code, not reproduced findings.</p>"
    )
    return f"<h2>Checks</h2>{intro}<div class='scroll'><table>{head}{rows}</table></div>"
