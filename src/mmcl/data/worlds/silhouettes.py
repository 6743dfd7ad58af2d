"""Gate (a) of the `shapes` world: every two class silhouettes differ by enough pixels.

A class whose shape cannot be told from another's at the rendered size makes every robustness
figure meaningless (no method can learn the core feature). This measures, for each pair of
shapes, the smallest difference between their rendered coverage masks over the nuisance jitter
the renderer applies (centre offset, scale, rotation), at a given size and resolution: the sum
over pixels of |coverage_a - coverage_b|, in pixels. Both shapes are rendered at the same size
class, each with its own jitter, so the minimum is over every pair of jitter draws on a grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from mmcl.data.worlds import render
from mmcl.data.worlds.base import WorldCheck

# The gate: at the smallest size and the world's resolution, every pair of class silhouettes
# differs by at least this many pixels of coverage (32 px default world; see README).
MIN_SILHOUETTE_PIXELS = 5.0
CENTRE = render.POSITIONS.index("center")


@dataclass(frozen=True)
class PairSeparation:
    """The closest two renderings of shapes `a` and `b`, in pixels of coverage difference."""

    a: str
    b: str
    pixels: float


def jitter_grid(steps: int = 3, angles: int = 5) -> np.ndarray:
    """(G, 4) draws of the jitter columns dx, dy, scale, angle spanning their ranges."""
    offsets = np.linspace(0.0, 1.0, steps)
    grid = itertools.product(offsets, offsets, offsets, np.linspace(0.0, 1.0, angles))
    return np.asarray(list(grid), np.float32)


def coverage(shape: int, image_size: int, size: int, grid: np.ndarray) -> np.ndarray:
    """(G, S*S) coverage of one shape at one size class, centred, for each jitter draw."""
    n = len(grid)
    jitter = np.zeros((n, len(render.JITTER)), np.float32)
    jitter[:, : grid.shape[1]] = grid
    zeros = np.zeros(n, np.int64)
    params = render.RenderParams(
        shape=np.full(n, shape),
        color=zeros,
        texture=zeros,
        background=zeros,
        size=np.full(n, size),
        position=np.full(n, CENTRE),
        style=zeros,
        jitter=jitter,
    )
    return render.shape_coverage(params, jitter, image_size).reshape(n, -1)


def silhouette_separation(image_size: int, size: int = 0) -> list[PairSeparation]:
    """Every pair of shapes with its smallest coverage difference, closest pair first."""
    grid = jitter_grid()
    masks = [coverage(k, image_size, size, grid) for k in range(len(render.SHAPES))]
    pairs = []
    for a, b in itertools.combinations(range(len(masks)), 2):
        gap = np.abs(masks[a][:, None, :] - masks[b][None, :, :]).sum(axis=-1).min()
        pairs.append(PairSeparation(render.SHAPES[a], render.SHAPES[b], float(gap)))
    return sorted(pairs, key=lambda p: p.pixels)


def silhouette_check(cfg) -> WorldCheck:
    """`mmcl data check shapes`' gate (a) for a `ShapesConfig`: the five closest pairs, and
    whether the closest differs by `MIN_SILHOUETTE_PIXELS`."""
    size = cfg.image_size
    pairs = silhouette_separation(size, size=0)
    lines = [f"closest silhouettes at {size} px, smallest size (pixels of coverage difference):"]
    lines += [f"  {pair.a:>9} vs {pair.b:<9} {pair.pixels:6.1f}" for pair in pairs[:5]]
    closest = pairs[0]
    failed = closest.pixels < MIN_SILHOUETTE_PIXELS
    lines.append(
        f"gate (a): every pair differs by >= {MIN_SILHOUETTE_PIXELS:g} px: "
        f"{'FAILED' if failed else 'passed'}"
    )
    failures = [f"(a) {closest.a} vs {closest.b} differ by {closest.pixels:.1f} px"]
    return WorldCheck(lines, failures if failed else [])
