"""What a matplotlib panel shows a reader: the data positions of every marker it draws.

matplotlib silently drops a point at NaN or infinity and clips one outside the axis limits, so a
figure can be written without error and still show nothing. These helpers read the markers back
from the axes (marker lines, errorbar points, scatter collections) and say which are not shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.collections import PathCollection

NO_MARKER = (None, "", " ", "None", "none")
CAPS = ("|", "_")  # errorbar caps: the ends of a bar, not points


def marker_lines(ax: Any) -> list[tuple[str, np.ndarray]]:
    """(marker, (n, 2) data positions) of every line that draws markers (caps left out)."""
    found = []
    for line in ax.get_lines():
        marker = line.get_marker()
        if marker in NO_MARKER or marker in CAPS or len(line.get_xdata()) == 0:
            continue
        found.append((str(marker), np.asarray(line.get_xydata(), float)))
    return found


def scatter_offsets(ax: Any) -> list[np.ndarray]:
    """(n, 2) data positions of every scatter collection."""
    return [np.asarray(c.get_offsets(), float) for c in ax.collections
            if isinstance(c, PathCollection) and len(c.get_offsets())]  # fmt: skip


def drawn_points(ax: Any) -> np.ndarray:
    """(n, 2) data positions of every marker the panel draws."""
    parts = [xy for _, xy in marker_lines(ax)] + scatter_offsets(ax)
    return np.concatenate(parts) if parts else np.empty((0, 2))


def assert_every_point_shown(ax: Any, expected: int) -> np.ndarray:
    """Exactly `expected` markers, each finite and inside the panel's limits; returns them."""
    points = drawn_points(ax)
    assert len(points) == expected, f"{ax.get_title()}: {len(points)} markers, not {expected}"
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    shown = np.isfinite(points).all(axis=1)
    shown &= (x0 <= points[:, 0]) & (points[:, 0] <= x1)
    shown &= (y0 <= points[:, 1]) & (points[:, 1] <= y1)
    assert shown.all(), f"not shown in x {x0, x1} y {y0, y1}: {points[~shown].tolist()}"
    return points


def legend_texts(ax: Any) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]
