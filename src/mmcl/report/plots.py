"""The accuracy bar chart of a run report, and PNG embedding for self-contained HTML.

Grouped bars: one group per split, one solid bar per model (read through its headline task, as
in the shift table) and, optionally, a hatched bar per model for the linear probe on its frozen
features, in the same colour, so the gap between what a model predicts and what its features
hold is visible split by split; each bar carries its binomial 95% test-sample interval. Uses
matplotlib's object API (Figure + Agg canvas), so no global pyplot state is touched, and writes
the PNG atomically.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmcl.io import atomic_write
from mmcl.report.tables import HEADLINE_TASKS, PROBE_TASK, Table, is_accuracy, shift_table
from mmcl.stats import accuracy_se

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Z95 = 1.959964  # two-sided 95% normal quantile: binomial test-sample intervals
Samples = dict[tuple[str, str, str], int]  # (model, task, split) -> test samples


@dataclass
class Bars:
    """One bar per split for one model: its headline task, or its linear probe when `probe`."""

    model: str
    task: str
    probe: bool
    values: list[float]  # accuracy in % per split, NaN where missing
    errors: list[float]  # half-width of the 95% test-sample interval in points, NaN: unknown


def _row_values(table: Table, row: int, group: str, splits: list[str]) -> list[float]:
    """Row `row`'s values of the `group` columns, in `splits` order, NaN where missing."""
    by_split = {
        c.split: table.cells[row][j] for j, c in enumerate(table.columns) if c.group == group
    }
    return [math.nan if by_split.get(s) is None else float(by_split[s]) for s in splits]


def chart_series(
    table: Table, include_probe: bool = True, samples: Samples | None = None
) -> tuple[list[str], list[Bars]]:
    """The splits on the x axis (headline splits, then probe-only ones) and the bars to draw.

    samples: (model, task, split) -> test samples, for each bar's binomial 95% interval.
    """
    splits = [c.split for c in table.columns if c.group == "headline"]
    probe_splits = [c.split for c in table.columns if c.group == "probe"]
    if include_probe:
        splits += [s for s in probe_splits if s not in splits]
    bars = []
    for i, model in enumerate(table.rows):
        task = table.cells[i][0]
        series = [(str(task), False, "headline")] if task is not None else []
        if include_probe and probe_splits:
            series.append((PROBE_TASK, True, "probe"))
        for name, probe, group in series:
            values = _row_values(table, i, group, splits)
            counts = [(samples or {}).get((model, name, s)) for s in splits]
            bars.append(Bars(model, name, probe, values, _half_widths(values, counts)))
    return splits, bars


def _half_widths(values: list[float], counts: list[int | None]) -> list[float]:
    return [
        math.nan if not n or math.isnan(v) else 100 * binomial_half_width(v / 100, n)
        for v, n in zip(values, counts, strict=True)
    ]


def binomial_half_width(accuracy: float, n_samples: int) -> float:
    """Half-width of the 95% test-sample interval of an accuracy (a fraction) on n samples."""
    return Z95 * float(accuracy_se(accuracy, n_samples))


def sample_counts(records: Sequence[dict[str, Any]]) -> Samples:
    """(model, task, split) -> n_samples of every accuracy record that states it."""
    return {
        (r["model"], r["task"], r["split"]): int(r["n_samples"])
        for r in records
        if is_accuracy(r) and r.get("n_samples")
    }


def bar_figure(table: Table, include_probe: bool = True, samples: Samples | None = None) -> Figure:
    """Grouped bars of the table's accuracies with their 95% test-sample intervals (where the
    records give sample counts); probe bars hatched in their model's colour."""
    splits, bars = chart_series(table, include_probe, samples)
    fig = Figure(figsize=(max(6.0, 1.6 * len(splits) + 3), 4.2))
    ax = fig.add_subplot()
    width = 0.8 / max(len(bars), 1)
    colours = {model: f"C{i % 10}" for i, model in enumerate(table.rows)}
    for k, bar in enumerate(bars):
        xs = [j - 0.4 + width * (k + 0.5) for j in range(len(splits))]
        ax.bar(
            xs,
            bar.values,
            width,
            label=f"{bar.model} ({bar.task})",
            color="white" if bar.probe else colours[bar.model],
            edgecolor=colours[bar.model],
            hatch="//" if bar.probe else None,
            yerr=[0.0 if math.isnan(e) else e for e in bar.errors],
            error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"},
        )
    ax.set_xticks(range(len(splits)))
    ax.set_xticklabels(splits)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    if bars:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def accuracy_bar_chart(
    records: Sequence[dict[str, Any]],
    path: str | Path,
    include_probe: bool = True,
    id_split: str = "id",
    headline_tasks: Sequence[str] = HEADLINE_TASKS,
) -> Path:
    """Write the grouped accuracy bars of `records` as a PNG at `path` (atomically); return it."""
    table = shift_table(records, id_split, headline_tasks)
    return save_png(bar_figure(table, include_probe, sample_counts(records)), path)


def save_png(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` as a PNG at `path`, atomically (a killed write leaves no half file)."""
    path = Path(path)
    FigureCanvasAgg(fig)  # attach the Agg canvas, so savefig never consults pyplot's backend
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=dpi))
    return path


def png_data_uri(path: str | Path) -> str:
    """`data:image/png;base64,...` of a PNG file, for an <img> that needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
