"""The id-shift plane of a run report: each model's headline accuracy in-distribution against
each shift, on logit axes (where effective-robustness lines are straight), with y = x.

Points carry their binomial 95% test-sample intervals on both axes and are labelled in place.
A run has no baseline family of its own, so no line is fitted here: the demo and `mmcl
robustness` draw one against a testbed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from mmcl.report.plots import LOGIT_TICKS, binomial_half_width, clipped_logit, logit_plane_axes
from mmcl.report.tables import Table, is_accuracy


def headline_points(
    records: Sequence[dict[str, Any]], table: Table
) -> dict[str, dict[str, tuple[float, int | None]]]:
    """model -> split -> (accuracy, test samples) of the model's headline task."""
    headline = {m: t for m, t in zip(table.rows, table.column("headline"), strict=True) if t}
    points: dict[str, dict[str, tuple[float, int | None]]] = {}
    for r in records:
        if is_accuracy(r) and headline.get(r["model"]) == r["task"]:
            points.setdefault(r["model"], {})[r["split"]] = (float(r["value"]), r.get("n_samples"))
    return points


def _logit_error(accuracy: float, n: int | None) -> list[list[float]]:
    """Asymmetric logit-axis error bar of the binomial 95% interval (zero without a count)."""
    if not n:
        return [[0.0], [0.0]]
    half = binomial_half_width(accuracy, n)
    centre = float(clipped_logit(accuracy))
    low, high = clipped_logit(accuracy - half), clipped_logit(accuracy + half)
    return [[centre - float(low)], [float(high) - centre]]


def plane_figure(records: Sequence[dict[str, Any]], table: Table, id_split: str = "id") -> Figure:
    """One panel per shift; every model with both splits is a labelled point with intervals."""
    points = headline_points(records, table)
    shifts = [c.split for c in table.columns if c.group == "drop"]
    fig = Figure(figsize=(4.2 * max(len(shifts), 1), 4.2))
    diagonal = clipped_logit(LOGIT_TICKS[[0, -1]])
    for index, shift in enumerate(shifts):
        ax = fig.add_subplot(1, len(shifts), index + 1)
        ax.plot(diagonal, diagonal, color="0.5", lw=0.8, ls=":", label="y = x")
        for k, model in enumerate(table.rows):
            by_split = points.get(model, {})
            if id_split not in by_split or shift not in by_split:
                continue
            (x, nx), (y, ny) = by_split[id_split], by_split[shift]
            lx, ly = float(clipped_logit(x)), float(clipped_logit(y))
            ax.errorbar(lx, ly, xerr=_logit_error(x, nx), yerr=_logit_error(y, ny), fmt="o",
                        ms=6, color=f"C{k % 10}", capsize=2, label=model)  # fmt: skip
            ax.annotate(model, (lx, ly), fontsize=7, xytext=(5, 4), textcoords="offset points")
        ax.set_xlim(*diagonal)
        ax.set_ylim(*diagonal)
        logit_plane_axes(ax, id_split, shift)
    fig.tight_layout()
    return fig


def has_plane(records: Sequence[dict[str, Any]], table: Table, id_split: str = "id") -> bool:
    """True when some model has its headline accuracy on id and on a shift."""
    points = headline_points(records, table)
    shifts = {c.split for c in table.columns if c.group == "drop"}
    return any(id_split in p and shifts & set(p) for p in points.values())
