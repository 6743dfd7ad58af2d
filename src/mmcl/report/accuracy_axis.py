"""Accuracy axes fitted to the data they show, for id-shift planes on logit (or probit) axes.

A logit axis with fixed limits loses every point outside them: a model at 1% on a shift it
fails falls below a 2% floor and its panel comes out empty. Here the limits are the data's own
range in the transformed units, with a margin, so every accuracy strictly between 0 and 1 is
drawn where it is. An accuracy of exactly 0 or 1 has no logit: it is drawn on the edge of the
axis instead (below or above every other point, so the order still reads right), hollow, as a
triangle pointing off the axis, and a legend entry (`EDGE_LABEL`) says what that means; error-bar
ends beyond 0 or 1 stop at the same edge. A dashed break and a tick labelled 0 (or 100) set that
band apart from the part of the axis that is to scale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

# Tick candidates (fractions) in the order they are kept: round figures first, finer ones where
# the axis has room; `AccuracyAxis.ticks` drops any closer than an eighth of the axis to a kept one.
TICK_PRIORITY = np.array(
    [50, 20, 80, 5, 95, 1, 99, 10, 90, 2, 98, 0.5, 99.5, 0.1, 99.9, 30, 70, 0.2, 99.8, 40, 60]
) / 100  # fmt: skip
MIN_PAD = 0.3  # smallest margin beyond the data, in transformed units (50% -> 57% on logit)
EDGE_LABEL = "at 0% or 100% (no logit): drawn on the axis edge"

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AccuracyAxis:
    """Limits of one transformed accuracy axis, and where accuracies it cannot place are drawn.

    low/high: the axis limits. inner_low/inner_high: the part that is to scale, the finite
    data's range with its margin. floor/ceiling: where an accuracy with an infinite transform
    (0 or 1 on logit axes) is drawn, in a band beyond the part to scale, or None when no point
    needs it (then an error bar running past 0 or 1 stops at the limit).
    """

    low: float
    high: float
    inner_low: float
    inner_high: float
    floor: float | None = None
    ceiling: float | None = None
    forward: Transform = special.logit
    inverse: Transform = special.expit

    def position(self, accuracy: Any) -> np.ndarray:
        """Where accuracies (fractions, clipped to [0, 1]) sit on the axis."""
        clipped = np.clip(np.asarray(accuracy, float), 0.0, 1.0)
        with np.errstate(divide="ignore"):
            z = np.asarray(self.forward(clipped), float)
        floor = self.low if self.floor is None else self.floor
        ceiling = self.high if self.ceiling is None else self.ceiling
        return np.where(z == -np.inf, floor, np.where(z == np.inf, ceiling, z))

    def at_edge(self, accuracy: Any) -> bool:
        """True when the accuracy has no place on the axis and is drawn on its edge."""
        with np.errstate(divide="ignore"):
            z = self.forward(np.clip(np.asarray(accuracy, float), 0.0, 1.0))
        return bool(np.any(np.isinf(z)))

    def ticks(self) -> tuple[list[float], list[str]]:
        """Tick positions and labels (%): round accuracies on the part to scale, at least an
        eighth of the axis apart, and "0" / "100" on the floor and ceiling where they are used."""
        gap = (self.high - self.low) / 8
        kept: list[float] = []
        for z in self.forward(TICK_PRIORITY):
            if self.inner_low <= z <= self.inner_high and all(abs(z - k) >= gap for k in kept):
                kept.append(float(z))
        if len(kept) < 2:  # a narrow axis: label two points inside its ends
            span = self.inner_high - self.inner_low
            kept = [self.inner_low + 0.15 * span, self.inner_high - 0.15 * span]
        kept.sort()
        labels = [f"{100 * float(self.inverse(z)):.3g}" for z in kept]
        if self.floor is not None:
            kept, labels = [self.floor, *kept], ["0", *labels]
        if self.ceiling is not None:
            kept, labels = [*kept, self.ceiling], [*labels, "100"]
        return kept, labels


def fit_axis(
    accuracies: Iterable[float],
    reach: Iterable[float] = (),
    forward: Transform = special.logit,
    inverse: Transform = special.expit,
    margin: float = 0.08,
) -> AccuracyAxis:
    """The axis that shows every point's accuracy (fractions; NaN ignored) and, where they have
    a place on it, the `reach` of their intervals: the finite range with `margin` of it (at least
    `MIN_PAD`) each side, and a band beyond for points at exactly 0 or 1. An interval end at or
    past 0 or 1 makes no band: its bar stops at the limit."""
    with np.errstate(divide="ignore"):
        z = _transformed(accuracies, forward)
        ends = _transformed(reach, forward)
    finite = np.concatenate([z[np.isfinite(z)], ends[np.isfinite(ends)]])
    if finite.size == 0:  # nothing but 0s and 1s: a neutral middle to hang the edges on
        finite = np.asarray(forward(np.array([0.05, 0.95])), float)
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(margin * (hi - lo), MIN_PAD)
    inner_low, inner_high = lo - pad, hi + pad
    floor = inner_low - pad if np.any(z == -np.inf) else None
    ceiling = inner_high + pad if np.any(z == np.inf) else None
    low = inner_low if floor is None else floor - pad / 2
    high = inner_high if ceiling is None else ceiling + pad / 2
    return AccuracyAxis(low, high, inner_low, inner_high, floor, ceiling, forward, inverse)


def _transformed(accuracies: Iterable[float], forward: Transform) -> np.ndarray:
    """forward of the accuracies clipped to [0, 1], NaN dropped (0 and 1 may give infinities)."""
    values = np.clip(np.asarray(list(accuracies), float), 0.0, 1.0)
    return np.asarray(forward(values[np.isfinite(values)]), float)


def edge_marker(x: float, y: float, marker: str) -> str:
    """`marker`, or a triangle pointing off the axis where x or y is 0 or 1 (y decides first)."""
    for value, below, above in ((y, "v", "^"), (x, "<", ">")):
        if value <= 0:
            return below
        if value >= 1:
            return above
    return marker


def set_accuracy_axes(ax: Any, axis: AccuracyAxis, x_label: str, y_label: str) -> None:
    """Both axes of one square id-shift panel on `axis`: limits, ticks in %, labels, grid, and a
    dashed break between the part to scale and a floor or ceiling band."""
    positions, labels = axis.ticks()
    ax.set_xlim(axis.low, axis.high)
    ax.set_ylim(axis.low, axis.high)
    ax.set_xticks(positions, labels, fontsize=7)
    ax.set_yticks(positions, labels, fontsize=7)
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.grid(color="0.93")
    breaks = [(axis.floor, axis.inner_low), (axis.ceiling, axis.inner_high)]
    for edge, at in breaks:
        if edge is not None:
            ax.axhline(at, color="0.55", lw=0.6, ls=(0, (3, 3)))
            ax.axvline(at, color="0.55", lw=0.6, ls=(0, (3, 3)))


def diagonal(ax: Any, axis: AccuracyAxis, **style: Any) -> None:
    """y = x across the whole panel."""
    ends = [axis.low, axis.high]
    ax.plot(ends, ends, color="0.5", lw=0.8, ls=":", label="y = x", **style)


def interval_bar(axis: AccuracyAxis, centre: float, interval: tuple[float, float] | None):
    """Asymmetric error bar (below, above) of an interval of accuracies around a position; ends
    beyond 0 or 1 stop at the axis edge; no interval, no bar."""
    if interval is None or None in interval:
        return [[0.0], [0.0]]
    low, high = axis.position(interval)
    return [[max(0.0, centre - float(low))], [max(0.0, float(high) - centre)]]


def plot_point(
    ax: Any,
    axis: AccuracyAxis,
    xy: tuple[float, float],
    intervals: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None),
    marker: str = "o",
    **style: Any,
) -> bool:
    """One point at accuracies `xy` with its intervals as error bars; hollow on the edge where
    it has no logit. True when it was put on the edge."""
    x, y = xy
    px, py = float(axis.position(x)), float(axis.position(y))
    edge = axis.at_edge(x) or axis.at_edge(y)
    colour = style.pop("color")
    ax.errorbar(px, py, xerr=interval_bar(axis, px, intervals[0]),
                yerr=interval_bar(axis, py, intervals[1]), fmt=edge_marker(x, y, marker),
                color=colour, mfc="white" if edge else colour, **style)  # fmt: skip
    return edge


def scatter_points(
    ax: Any, axis: AccuracyAxis, xs: Any, ys: Any, marker: str = "o", **style: Any
) -> bool:
    """Points at accuracies (xs, ys); those with no logit hollow on the edge. True if any was."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    markers = np.array([edge_marker(x, y, marker) for x, y in zip(xs, ys, strict=True)])
    colour, label = style.pop("color"), style.pop("label", None)
    for shape in dict.fromkeys(markers.tolist()):
        pick = markers == shape
        face = colour if shape == marker else "white"
        ax.scatter(axis.position(xs[pick]), axis.position(ys[pick]), marker=shape,
                   facecolors=face, edgecolors=colour, label=label, **style)  # fmt: skip
        label = None  # one legend entry per call
    return bool(np.any(markers != marker))


def note_edge(ax: Any) -> None:
    """The legend entry that says what a hollow triangle on the edge is."""
    ax.plot([], [], ls="", marker="v", mfc="white", mec="0.3", color="0.3", label=EDGE_LABEL)
