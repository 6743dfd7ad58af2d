"""The id-shift plane of a run report: each model's headline accuracy in-distribution against
each shift, on logit axes (where effective-robustness lines are straight), with y = x.

Points carry their binomial 95% test-sample intervals on both axes and are labelled in place.
Each panel's axes span its own points (`accuracy_axis`): a model at 1% on a shift it fails is
drawn at 1%, and one at exactly 0% (no logit) on the panel's edge, marked as such. A run has no
baseline family of its own, so no line is fitted here: the demo and `mmcl
robustness` draw one against a testbed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from mmcl.report.accuracy_axis import diagonal, fit_axis, note_edge, plot_point, set_accuracy_axes
from mmcl.report.plots import binomial_half_width
from mmcl.report.tables import Table, is_accuracy

Point = tuple[float, int | None]  # accuracy (a fraction) and its test samples
PANELS_PER_ROW = 3  # more shifts wrap onto another row, so a panel stays legible at page width


def headline_points(records: Sequence[dict[str, Any]], table: Table) -> dict[str, dict[str, Point]]:
    """model -> split -> (accuracy, test samples) of the model's headline task."""
    headline = {m: t for m, t in zip(table.rows, table.column("headline"), strict=True) if t}
    points: dict[str, dict[str, Point]] = {}
    for r in records:
        if is_accuracy(r) and headline.get(r["model"]) == r["task"]:
            points.setdefault(r["model"], {})[r["split"]] = (float(r["value"]), r.get("n_samples"))
    return points


def binomial_interval(point: Point) -> tuple[float, float] | None:
    """The binomial 95% test-sample interval of an accuracy; None without a sample count."""
    accuracy, n = point
    if not n:
        return None
    half = binomial_half_width(accuracy, n)
    return accuracy - half, accuracy + half


def panel_pairs(
    points: dict[str, dict[str, Point]], models: Sequence[str], id_split: str, shift: str
) -> list[tuple[int, str, Point, Point]]:
    """(colour index, model, id point, shift point) of every model with both splits."""
    return [
        (k, model, points[model][id_split], points[model][shift])
        for k, model in enumerate(models)
        if id_split in points.get(model, {}) and shift in points.get(model, {})
    ]


def _panel(ax: Any, pairs: list[tuple[int, str, Point, Point]], id_split: str, shift: str) -> None:
    """One shift's panel on an axis fitted to its points and their intervals."""
    shown = [p for _, _, x, y in pairs for p in (x, y)]
    axis = fit_axis([p[0] for p in shown], [e for p in shown for e in binomial_interval(p) or ()])
    diagonal(ax, axis)
    on_edge = False
    for k, model, x, y in pairs:
        intervals = (binomial_interval(x), binomial_interval(y))
        on_edge |= plot_point(ax, axis, (x[0], y[0]), intervals, ms=6, color=f"C{k % 10}",
                              capsize=2, label=model)  # fmt: skip
        xy = (float(axis.position(x[0])), float(axis.position(y[0])))
        ax.annotate(model, xy, fontsize=7, xytext=(5, 4), textcoords="offset points")
    if on_edge:
        note_edge(ax)
    set_accuracy_axes(ax, axis, f"{id_split} accuracy (%), logit axis",
                      f"{shift} accuracy (%), logit axis")  # fmt: skip
    ax.legend(fontsize=6, loc="best")


def plane_figure(records: Sequence[dict[str, Any]], table: Table, id_split: str = "id") -> Figure:
    """One panel per shift (three to a row); every model with both splits is a labelled point
    with its intervals, each panel's axes fitted to its own points."""
    points = headline_points(records, table)
    shifts = [c.split for c in table.columns if c.group == "drop"]
    columns = max(min(len(shifts), PANELS_PER_ROW), 1)
    rows = max(math.ceil(len(shifts) / columns), 1)
    fig = Figure(figsize=(4.2 * columns, 4.2 * rows))
    for index, shift in enumerate(shifts):
        ax = fig.add_subplot(rows, columns, index + 1)
        _panel(ax, panel_pairs(points, table.rows, id_split, shift), id_split, shift)
    fig.tight_layout()
    return fig


def edge_points(records: Sequence[dict[str, Any]], table: Table, id_split: str = "id") -> list[str]:
    """ "model on split" for every plotted accuracy of exactly 0 or 1 (drawn on the edge)."""
    points = headline_points(records, table)
    shifts = [c.split for c in table.columns if c.group == "drop"]
    found = []
    for shift in shifts:
        for _, model, x, y in panel_pairs(points, table.rows, id_split, shift):
            found += [f"{model} on {split}" for split, p in ((id_split, x), (shift, y))
                      if p[0] in (0.0, 1.0)]  # fmt: skip
    return list(dict.fromkeys(found))


def has_plane(records: Sequence[dict[str, Any]], table: Table, id_split: str = "id") -> bool:
    """True when some model has its headline accuracy on id and on a shift."""
    points = headline_points(records, table)
    shifts = {c.split for c in table.columns if c.group == "drop"}
    return any(id_split in p and shifts & set(p) for p in points.values())
