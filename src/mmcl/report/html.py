"""The run report: one self-contained `report.html` per run folder, or one for several runs.

Self-contained means it can be mailed: the CSS is inline and the bar chart is embedded as a
base64 data URI (the PNG is also left beside the page). The "what this shows" paragraph is
computed from the table it sits under, so it can never disagree with the numbers. Every file is
written atomically, so a failed report leaves the previous one (or none) in place, never half.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmcl.errors import MMCLError
from mmcl.eval.tasks import read_results
from mmcl.io import atomic_write_text
from mmcl.report.attributes import attribute_chart
from mmcl.report.page import Header, page, run_lines
from mmcl.report.plane import edge_points, has_plane, headline_points, plane_figure
from mmcl.report.plots import Z95, accuracy_bar_chart, chart_series, png_data_uri, save_png
from mmcl.report.samples import run_samples_html
from mmcl.report.tables import HEADLINE_TASKS, Table, format_html, shift_table
from mmcl.report.training_curves import PANELS, Curve, training_curves_figure
from mmcl.report.trajectory import checkpoint_trajectory, trajectory_figure, trajectory_of
from mmcl.stats import accuracy_se
from mmcl.train.metrics_log import read_metrics

REPORT_NAME = "report.html"
RESULTS_NAME = "results.json"


@dataclass
class ReportConfig:
    """How to read the records: the in-distribution split and the headline-task priority."""

    id_split: str = "id"
    headline_tasks: tuple[str, ...] = HEADLINE_TASKS  # first task a model has is its headline
    include_probe: bool = True  # hatched linear-probe bars in the chart


def drop_interval(
    id_point: tuple[float, int | None], shift_point: tuple[float, int | None]
) -> tuple[float, float, float] | None:
    """(drop, low, high) in points: id minus shift with its test-sample 95% interval (the two
    splits are independent samples); None when a sample count is missing."""
    (p_id, n_id), (p_shift, n_shift) = id_point, shift_point
    if not n_id or not n_shift:
        return None
    se = float(np.sqrt(accuracy_se(p_id, n_id) ** 2 + accuracy_se(p_shift, n_shift) ** 2))
    drop = p_id - p_shift
    return 100 * drop, 100 * (drop - Z95 * se), 100 * (drop + Z95 * se)


def summary_sentences(
    records: Sequence[dict[str, Any]], table: Table, id_split: str = "id"
) -> list[str]:
    """Per shift, every model's drop with its test-sample interval; never a winner.

    One run per model measures test-sample noise only, not how much another seed would move
    the figure, so no model is named more robust here: `mmcl sweep ... seeds=0,1,2` (or the
    demo) decides that with seed intervals.
    """
    points = headline_points(records, table)
    shifts = [c.split for c in table.columns if c.group == "drop"]
    sentences = []
    for shift in shifts:
        parts = [
            f"{model} {_drop_text(points[model][id_split], points[model][shift])}"
            for model in table.rows
            if id_split in points.get(model, {}) and shift in points.get(model, {})
        ]
        if parts:
            sentences.append(f"From {id_split} to {shift}: {'; '.join(parts)}.")
    if sentences and len(table.rows) > 1:
        sentences.append(
            "Brackets are 95% test-sample intervals of one run each; seed-to-seed variation is "
            "not measured here, so no model is named more robust (a sweep over seeds decides "
            "that)."
        )
    return sentences


def _drop_text(id_point: tuple[float, int | None], shift_point: tuple[float, int | None]) -> str:
    interval = drop_interval(id_point, shift_point)
    drop = 100 * (id_point[0] - shift_point[0])
    verb = "drops" if drop >= 0 else "gains"
    text = f"{verb} {abs(drop):.1f} points"
    if interval is None:
        return text + " (no sample count, no interval)"
    _, low, high = interval
    return text + f" [{low:.1f}, {high:.1f}]" if drop >= 0 else text + f" [{-high:.1f}, {-low:.1f}]"


TEST_SAMPLE_INTERVALS = (
    "binomial 95% intervals of each accuracy over its test samples. They hold test-sample "
    "noise only: each model is one run, so how far another seed would move it is not in them."
)


def edge_caption(edge: Sequence[str]) -> str:
    """The sentence naming the accuracies drawn on a logit axis's edge, or ''."""
    if not edge:
        return ""
    return (
        " At exactly 0% or 100% an accuracy has no logit; these are drawn as hollow triangles on "
        f"the panel's edge: {html.escape(', '.join(edge))}."
    )


@dataclass(frozen=True)
class Figures:
    """The PNGs a run report embeds (None: nothing to draw)."""

    chart: Path | None = None  # accuracy bars per split
    plane: Path | None = None  # id against each shift
    attributes: Path | None = None  # attribute probes per model


def render_report(
    title: str,
    header: Header | None,
    records: Sequence[dict[str, Any]],
    figures: Figures,
    sections: Sequence[str] = (),
    config: ReportConfig | None = None,
) -> str:
    """The whole page as a string: header, shift table, chart, summary, extra sections."""
    cfg = config or ReportConfig()
    table = shift_table(records, cfg.id_split, cfg.headline_tasks)
    sentences = summary_sentences(records, table, cfg.id_split) or [
        "No model has both an id and a shift."
    ]
    parts = [
        "<h2>Accuracy under shift</h2>",
        "<p>Accuracies in % of each model's headline task, and the drop from id to each shift "
        "in points (positive: the shift costs accuracy); then linear probes on the frozen "
        "features, per split and per attribute.</p>",
        format_html(table) if table.rows else "<p>No accuracy records.</p>",
    ]
    if figures.chart is not None:
        alt = "accuracy per split, one bar per model, 95% test-sample intervals; hatched: probes"
        parts.append(
            f"<p class='caption'>Hatched: the linear probe. Whiskers: {TEST_SAMPLE_INTERVALS}</p>"
            f"<img alt='{alt}' src='{png_data_uri(figures.chart)}'/>"
        )
    if figures.plane is not None:
        parts.append(
            "<h2>The id-shift plane</h2><p class='caption'>Each model's headline accuracy on id "
            "against each shift, on logit axes that span each panel's points; points below "
            f"y = x lose accuracy under the shift. Error bars: {TEST_SAMPLE_INTERVALS}"
            f"{edge_caption(edge_points(records, table, cfg.id_split))}</p>"
            f"<img alt='id against each shift' src='{png_data_uri(figures.plane)}'/>"
        )
    if figures.attributes is not None:
        parts.append(
            "<h2>Which features each model keeps</h2><p class='caption'>A linear probe per "
            "attribute on frozen features; a probe at the dashed chance line (1 / the number of "
            "values the attribute takes) means the model's features lost that attribute. "
            f"Whiskers: {TEST_SAMPLE_INTERVALS}</p>"
            f"<img alt='attribute probes' src='{png_data_uri(figures.attributes)}'/>"
        )
    parts.append("<h2>What this shows</h2>")
    parts.append("<p>" + " ".join(html.escape(s) for s in sentences) + "</p>")
    return page(title, header, [*parts, *sections])


def _write(
    out: Path,
    title: str,
    header: Header | None,
    records: Sequence[dict[str, Any]],
    sections: Sequence[str],
    config: ReportConfig | None,
) -> Path:
    """Figures beside `out` (those with something to show), then the page, all atomically."""
    cfg = config or ReportConfig()
    figures = draw_figures(
        out, records, shift_table(records, cfg.id_split, cfg.headline_tasks), cfg
    )
    atomic_write_text(out, render_report(title, header, records, figures, sections, cfg))
    return out


def draw_figures(
    out: Path, records: Sequence[dict[str, Any]], table: Table, cfg: ReportConfig
) -> Figures:
    """Each figure that has something to show, as a PNG beside `out`."""
    stem = out.with_name(out.stem)
    chart = plane = attributes = None
    if has_bars(table, cfg.include_probe):
        chart = accuracy_bar_chart(
            records, f"{stem}_accuracy.png", cfg.include_probe, cfg.id_split, cfg.headline_tasks
        )
    if has_plane(records, table, cfg.id_split):
        plane = save_png(plane_figure(records, table, cfg.id_split), f"{stem}_plane.png")
    figure = attribute_chart(records)
    if figure is not None:
        attributes = save_png(figure, f"{stem}_attributes.png")
    return Figures(chart, plane, attributes)


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
        kept = checkpoint_trajectory(run_dir, f"{run_dir.name} (kept checkpoints)", colour)
        if kept is not None:
            trajectories.append(kept)
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
            "<h2>Robustness over training</h2><p class='caption'>Accuracy on id against each "
            "shift every <code>eval.every</code> steps, or at each checkpoint kept (<code>mmcl "
            "eval RUN --checkpoint all</code>), on logit axes that span the paths; the dotted "
            "line is y = x. No baseline line is drawn: a run has no family of baseline models "
            "to fit one to (<code>mmcl robustness</code> and the demo fit one), and a path "
            "parallel to such a line would gain no effective robustness. Accuracies of exactly "
            "0% or 100% (no logit) sit on the edge as hollow triangles.</p>"
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
    """Write `run_dir/report.html` from a results dict `{"meta", "records"}`; return its path.

    The header names this folder's run, or, for a folder of runs (a `repro`), every run below.
    """
    run_dir = Path(run_dir)
    meta, records = results.get("meta", {}), results.get("records", [])
    out = run_dir / REPORT_NAME
    nested = sorted(p.parent for p in run_dir.glob("*/**/results.json"))
    header = Header(
        what=_what_ran(meta, title),
        runs=run_lines([run_dir, *nested] if "config_hash" in meta else nested),
        seeds=meta.get("seeds", ()),
        wall_seconds=meta.get("seconds"),
        machine=meta.get("machine", ""),
    )
    pictured = next((d for d in [run_dir, *nested] if (d / "config.yaml").is_file()), run_dir)
    extra = [training_section([run_dir], out), run_samples_html(pictured)]
    return _write(out, title, header, records, [*sections, *filter(None, extra)], config)


def _what_ran(meta: dict[str, Any], title: str) -> str:
    if "pretrained" in meta:  # `mmcl eval --model`: scored, not trained here
        weights = meta["pretrained"] or "random weights"
        return f"open_clip {meta.get('model', '?')} with {weights}, scored (not trained here)"
    if "paper" in meta:
        return f"mmcl repro {meta['paper']} at scale {meta.get('scale', '?')}"
    if "method" in meta:
        return f"{meta['method']} run {meta.get('run', '')}, {meta.get('steps', '?')} steps"
    return title


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
    machines = {data["meta"]["machine"] for _, data in loaded if "machine" in data["meta"]}
    header = Header(
        what=f"{len(dirs)} run folders merged: {', '.join(names)}",
        runs=run_lines(dirs),
        machine="; ".join(sorted(machines)),
    )
    extra = [training_section(dirs, Path(out)), run_samples_html(dirs[0])]
    sections = [*sections, *filter(None, extra)]
    return _write(Path(out), title, header, merge_runs(loaded), sections, config)


CLAIM_COLUMNS = ("id", "statement", "paper", "ours")
VERDICT_CLASS = {"held": "held", "not held": "not-held", "inconclusive": "inconclusive"}


def _rule_cell(c: dict) -> str:
    """The rule, its margin and the margin's reason, and what data would make the claim fail."""
    reason = f" Margin {c['margin']:g}: {c['margin_reason']}." if c.get("margin_reason") else ""
    return f"{c['rule']}.{reason} Fails if {c['fails_if']}."


def _precondition_cell(c: dict) -> str:
    pre = c["precondition"]
    evidence = f" ({pre['evidence']})" if pre.get("evidence") else ""
    return f"{pre['status']}: {pre['rule']}{evidence}"


def _verdict_cell(c: dict) -> str:
    """The family verdict, the raw one beside it, and for an undecided claim why."""
    family = f"Holm over {c['family_size']} ({c['family']})" if "family_size" in c else "raw"
    text = f"{c['verdict']} ({c['n_seeds']} seeds; {family}; raw: {c['raw_verdict']})"
    return f"{text}. {c['why']}" if c.get("why") else text


def claims_html(claims: Sequence[dict], preamble: str = "", heading: str = "Claims") -> str:
    """A paper's claims table: claim, statement, paper, ours with its interval, the rule with
    its margin and reason, the precondition, and the family verdict (the raw one beside it,
    and for an undecided claim why and the seeds it would need).

    The verdict cell is colour-coded: green held, red not held, grey inconclusive.
    """
    rows = "".join(
        "<tr>"
        + "".join(f"<td class='text'>{html.escape(str(c[k]))}</td>" for k in CLAIM_COLUMNS)
        + f"<td class='text'>{html.escape(_rule_cell(c))}</td>"
        + f"<td class='text'>{html.escape(_precondition_cell(c))}</td>"
        + f"<td class='text verdict {VERDICT_CLASS[c['verdict']]}'>"
        + f"{html.escape(_verdict_cell(c))}</td></tr>"
        for c in claims
    )
    names = ("claim", "statement", "paper", "ours", "rule and margin", "precondition", "verdict")
    head = "".join(f"<th>{k}</th>" for k in names)
    intro = f"<p>{html.escape(preamble)}</p>" if preamble else ""
    return (
        f"{f'<h2>{heading}</h2>' if heading else ''}{intro}"
        f"<div class='scroll'><table><tr>{head}</tr>"
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
