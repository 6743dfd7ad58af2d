"""The sweep page: one table of means with 95% intervals, one plot per swept key.

Each plot puts the swept key's values on x and a headline accuracy on y, one line per (model,
task, split) and per combination of the other swept keys, with the interval as error bars, so a
reader sees where along the axis the lines separate and whether their intervals overlap.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mmcl.io import atomic_write_text
from mmcl.report.html import training_section
from mmcl.report.page import Header, page, run_lines
from mmcl.report.plots import png_data_uri, save_png
from mmcl.report.samples import run_samples_html
from mmcl.report.tables import HEADLINE_TASKS

PLOTTED_TASKS = (*HEADLINE_TASKS, "linear_probe")


def headline_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The accuracy rows of headline tasks and the linear probe (what the plots and table show)."""
    return [r for r in rows if r.get("task") in PLOTTED_TASKS and r.get("metric") == "accuracy"]


def _line_key(row: dict[str, Any], others: Sequence[str]) -> str:
    context = ", ".join(f"{k}={row[k]}" for k in others)
    label = f"{row['model']} {row['task']} {row['split']}"
    return f"{label} ({context})" if context else label


def axis_figure(
    rows: Sequence[dict[str, Any]], key: str, values: Sequence[Any], others: Sequence[str]
) -> Figure:
    """Accuracy against one swept key, error bars from each row's interval."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    position = {v: (v if numeric else i) for i, v in enumerate(values)}
    lines: dict[str, list[tuple[float, float, float, float]]] = {}
    for row in rows:
        low, high = row["interval"]
        low = row["mean"] if low is None else low
        high = row["mean"] if high is None else high
        point = (position[row[key]], row["mean"], row["mean"] - low, high - row["mean"])
        lines.setdefault(_line_key(row, others), []).append(point)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for label, points in sorted(lines.items()):
        points.sort()
        xs, ys, below, above = zip(*points, strict=True)
        ax.errorbar(
            xs,
            [100 * y for y in ys],
            yerr=[[100 * b for b in below], [100 * a for a in above]],
            marker="o",
            capsize=3,
            label=label,
        )
    if not numeric:
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([str(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel("accuracy (%), 95% interval")
    ax.set_ylim(0, 100)
    ax.grid(color="0.9")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def write_axis_plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """One PNG per swept key under `out_dir`, written atomically."""
    rows, axes, paths = headline_rows(result["rows"]), result["axes"], []
    for key, values in axes.items():
        fig = axis_figure(rows, key, values, [k for k in axes if k != key])
        paths.append(save_png(fig, out_dir / f"sweep_{key.replace('.', '_')}.png"))
    return paths


def rows_html(rows: Sequence[dict[str, Any]], axes: Sequence[str]) -> str:
    """Grid point, model, task, split, mean and interval (in %), seeds."""
    head = [*axes, "model", "task", "split", "mean (%)", "95% interval", "seeds"]
    body = []
    for row in rows:
        low, high = row["interval"]
        interval = "unbounded (1 seed)" if low is None else f"[{100 * low:.1f}, {100 * high:.1f}]"
        cells = [*(row[k] for k in axes), row["model"], row["task"], row["split"]]
        texts = "".join(f"<td class='text'>{html.escape(str(c))}</td>" for c in cells)
        body.append(
            f"<tr>{texts}<td>{100 * row['mean']:.1f}</td><td>{interval}</td>"
            f"<td>{row['n_seeds']}</td></tr>"
        )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<div class='scroll'><table><tr>{header}</tr>{''.join(body)}</table></div>"


def write_sweep_report(result: dict[str, Any], out_dir: Path) -> Path:
    """OUT/report.html: what was swept, the table, one plot per swept key, every run's
    training curves and the first run's sample images."""
    plots = write_axis_plots(result, out_dir)
    run_dirs = [Path(run["run_dir"]) for run in result.get("runs", [])]
    axes = list(result["axes"])
    swept = ", ".join(f"{k} = {v}" for k, v in result["axes"].items()) or "no axis"
    header = Header(
        what=f"mmcl sweep of {result['config']} over {swept}",
        runs=run_lines(run_dirs),
        seeds=result["seeds"],
        wall_seconds=result.get("seconds"),
        wall_note=f"this call, which trained {len(result.get('trained', []))} runs",
    )
    parts = [
        f"<p>Config {html.escape(result['config'])}; swept {html.escape(swept)}; seeds "
        f"{result['seeds']}. Means over seeds with 95% intervals (seed and test-sample "
        "variance, mmcl.stats).</p>",
        rows_html(headline_rows(result["rows"]), axes),
        *(
            f"<img alt='accuracy against {html.escape(k)}' src='{png_data_uri(p)}'/>"
            for k, p in zip(axes, plots, strict=True)
        ),
    ]
    path = out_dir / "report.html"
    parts.append(training_section(run_dirs, path))  # every run's curves, one colour each
    parts.append(run_samples_html(run_dirs[0]) if run_dirs else "")
    atomic_write_text(path, page("mmcl sweep", header, parts))
    return path
