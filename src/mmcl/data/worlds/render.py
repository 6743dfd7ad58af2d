"""Vectorized numpy renderer for the `shapes` world.

Why not PIL: drawing one image at a time costs ~1 ms, so a 10k-image world would take seconds per
split. Here every shape is a precomputed coverage template in a canonical [-1, 1]^2 frame; a batch
of N images is drawn by mapping each pixel into its sample's shape frame (position, scale, small
rotation) and gathering the template (one `np.take`). Textures are closed-form functions of the
pixel grid with a random phase, backgrounds are precomputed canvases cropped at a random offset.
There is no per-pixel or per-image Python loop: cost is a handful of (N, S, S) array operations.

Attribute value lists (names, colours, looks) live here because the renderer defines what each
value looks like; `shapes.py` samples them and `captions.py` words them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SHAPES = (
    "circle", "square", "triangle", "star", "cross",
    "pentagon", "hexagon", "diamond", "heart", "crescent",
)  # fmt: skip
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "green": (0.10, 0.75, 0.20),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.98, 0.90, 0.10),
    "orange": (1.00, 0.55, 0.00),
    "purple": (0.55, 0.15, 0.75),
    "pink": (1.00, 0.45, 0.75),
    "cyan": (0.10, 0.90, 0.90),
    "white": (1.00, 1.00, 1.00),
    "black": (0.05, 0.05, 0.05),
}
TEXTURES = ("solid", "striped", "diagonal", "dotted", "checkered", "gridded")
# name -> (base RGB, pattern). Tones differ and patterns differ, so backgrounds are easy to tell
# apart (the spurious feature must be simpler than the shape).
BACKGROUNDS: dict[str, tuple[tuple[float, float, float], str]] = {
    "sand": ((0.86, 0.76, 0.55), "grain"),
    "grass": ((0.35, 0.62, 0.25), "blades"),
    "sky": ((0.55, 0.75, 0.95), "vertical_gradient"),
    "night": ((0.08, 0.08, 0.22), "stars"),
    "brick": ((0.62, 0.28, 0.20), "bricks"),
    "snow": ((0.92, 0.93, 0.97), "blotches"),
    "stone": ((0.50, 0.50, 0.50), "cobbles"),
    "ocean": ((0.10, 0.40, 0.55), "waves"),
    "forest": ((0.12, 0.32, 0.15), "diagonal_bands"),
    "sunset": ((0.98, 0.60, 0.30), "warm_gradient"),
}
SIZES = ("small", "medium", "large")
POSITIONS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip
STYLES = ("photo", "sketch")
# Per-sample nuisance draws (columns of RenderParams.jitter): small variation, no attribute.
JITTER = (
    "dx", "dy", "scale", "angle", "color_brightness",
    "bg_x", "bg_y", "texture_phase", "bg_brightness",
)  # fmt: skip

SUPERSAMPLE = 3  # template samples per pixel side (anti-aliasing of the shape's edge)
TEMPLATE_RES = 96  # canonical template side; > 2x the largest shape diameter in pixels at 64 px
SIZE_RADIUS = (0.19, 0.24, 0.29)  # shape radius as a fraction of the image side, per size
POSITION_OFFSET = 0.2  # distance of the off-centre regions from the centre, fraction of the side
PAPER = (0.96, 0.96, 0.93)  # sketch background
CANVASES = ("scene", "grey")  # photo backgrounds: the textured scenes, or Trifeature's plain grey
GREY = 0.5  # Trifeature's canvas (Hermann & Lampinen 2020)
INK = (0.08, 0.08, 0.08)  # sketch stroke


@dataclass
class RenderParams:
    """Per-sample attribute ids (N,) int and jitter draws (N,) float for one rendered batch."""

    shape: np.ndarray
    color: np.ndarray
    texture: np.ndarray
    background: np.ndarray
    size: np.ndarray
    position: np.ndarray
    style: np.ndarray
    jitter: np.ndarray  # (N, N_JITTER) uniform [0, 1), columns: see JITTER

    def subset(self, index: np.ndarray) -> RenderParams:
        return RenderParams(**{k: v[index] for k, v in vars(self).items()})


def _polygon_inside(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of grid points against (V, 2) vertices."""
    inside = np.zeros(x.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0 + 1e-12)
        inside ^= crosses & (x < x_cross)
    return inside


def _regular(n: int, radius: float, start_deg: float = 90.0) -> np.ndarray:
    angles = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (n, 2)


def _star() -> np.ndarray:
    outer, inner = _regular(5, 0.98), _regular(5, 0.42, 90.0 + 36.0)
    return np.stack([outer, inner], axis=1).reshape(10, 2)


def _shape_mask(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary mask of one shape; x right, y up, shapes fill roughly the unit disc."""
    polygons = {
        "triangle": _regular(3, 1.0) + [0.0, -0.2],
        "pentagon": _regular(5, 0.92),
        "hexagon": _regular(6, 0.9, 0.0),
        "diamond": np.array([[0.0, 0.95], [0.62, 0.0], [0.0, -0.95], [-0.62, 0.0]]),
        "star": _star(),
    }
    if name in polygons:
        return _polygon_inside(x, y, polygons[name])
    if name == "circle":
        return x**2 + y**2 <= 0.85**2
    if name == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.72
    if name == "cross":
        ax, ay = np.abs(x), np.abs(y)
        return ((ax <= 0.28) & (ay <= 0.9)) | ((ay <= 0.28) & (ax <= 0.9))
    if name == "heart":
        hx, hy = x * 1.25, (y + 0.1) * 1.25
        return (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    if name == "crescent":
        return (x**2 + y**2 <= 0.88**2) & ((x - 0.42) ** 2 + (y - 0.12) ** 2 > 0.7**2)
    raise KeyError(name)


@lru_cache(maxsize=1)
def shape_templates() -> np.ndarray:
    """(n_shapes, T, T) float32 coverage in [0, 1], 4x supersampled then box-filtered."""
    fine = TEMPLATE_RES * 4
    axis = (np.arange(fine) + 0.5) / fine * 2.0 - 1.0
    x, y = np.meshgrid(axis, -axis)  # row 0 is the top (y = +1)
    masks = np.stack([_shape_mask(name, x, y) for name in SHAPES]).astype(np.float32)
    return masks.reshape(len(SHAPES), TEMPLATE_RES, 4, TEMPLATE_RES, 4).mean(axis=(2, 4))


def background_look(pattern: str, base: np.ndarray, side: int, rng: np.random.Generator):
    """One (side, side, 3) float32 background look; `side` is in pixels of the final image."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side * 32.0  # 32-px units
    noise = rng.random((side, side), dtype=np.float32)
    white = np.ones(3, np.float32)
    if pattern == "grain":
        shade = 0.9 + 0.2 * noise
    elif pattern == "blades":
        shade = 0.8 + 0.35 * (np.sin(xx * 2.1 + 3.0 * np.sin(yy * 0.3)) > 0.4)
    elif pattern == "vertical_gradient":
        t = yy / 48.0
        return ((1 - t)[..., None] * base + t[..., None] * (0.6 * white + 0.4 * base)).astype(
            np.float32
        )
    elif pattern == "stars":
        return np.where((noise > 0.985)[..., None], 0.9 * white, base).astype(np.float32)
    elif pattern == "bricks":
        row = np.floor(yy / 4.0)
        mortar = ((yy % 4.0) < 0.9) | (((xx + 4.0 * (row % 2)) % 8.0) < 0.9)
        return np.where(mortar[..., None], 0.8 * white, base).astype(np.float32)
    elif pattern == "blotches":
        shade = 0.93 + 0.07 * np.sin(xx * 0.5) * np.sin(yy * 0.45)
        return (shade[..., None] * base * [0.97, 0.98, 1.0]).astype(np.float32)
    elif pattern == "cobbles":
        cell = ((np.floor(xx / 5.0) * 7 + np.floor(yy / 5.0) * 13) % 5) / 5.0
        edge = ((xx % 5.0) < 0.8) | ((yy % 5.0) < 0.8)
        shade = np.where(edge, 0.6, 0.85 + 0.3 * cell)
    elif pattern == "waves":
        shade = 0.85 + 0.35 * (np.sin(yy * 1.4 + 1.2 * np.sin(xx * 0.5)) > 0.6)
    elif pattern == "diagonal_bands":
        shade = np.where(((xx + yy) % 6.0) < 3.0, 0.7, 1.2)
    elif pattern == "warm_gradient":
        t = (yy / 48.0)[..., None]
        purple = np.array([0.50, 0.25, 0.60], np.float32)
        return ((1 - t) * purple + t * base).astype(np.float32)
    else:
        raise KeyError(pattern)
    return np.clip(shade[..., None] * base, 0.0, 1.0).astype(np.float32)


@lru_cache(maxsize=4)
def background_canvases(image_size: int) -> np.ndarray:
    """(3, n_backgrounds * C * C) float32 canvases, C = 1.5x the image side, cropped per sample.

    Channel-first and flat so that one `np.take` gathers every sample's crop. Fixed RNG: a
    background's look is part of the world's definition, not of the sample seed.
    """
    side = image_size * 3 // 2
    rng = np.random.default_rng(12345)
    looks = [
        background_look(pattern, np.asarray(base, np.float32), side, rng)
        for base, pattern in BACKGROUNDS.values()
    ]
    return np.ascontiguousarray(np.stack(looks).transpose(3, 0, 1, 2)).reshape(3, -1)


def _pattern(name: str, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Texture `name` at fractional cell coordinates fx, fy in [0, 1): True = main colour."""
    if name == "striped":
        return np.broadcast_to(fy < 0.5, np.broadcast_shapes(fx.shape, fy.shape))
    if name == "diagonal":
        return ((fx + fy) % 1.0) < 0.5
    if name == "dotted":  # dots in the second colour
        return (fx - 0.5) ** 2 + (fy - 0.5) ** 2 > 0.09
    if name == "checkered":
        return (fx < 0.5) ^ (fy < 0.5)
    if name == "gridded":  # grid lines in the second colour
        return (fx > 0.3) & (fy > 0.3)
    raise KeyError(name)


def _texture_on(texture: np.ndarray, px: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """(N, S, S) bool: True where the texture shows the shape's main colour (False: second).

    px: (S,) pixel centres in 32-px units, so patterns scale with the image. One vectorized pass
    per texture over the samples that have it.
    """
    period = 5.0
    on = np.ones((len(texture), len(px), len(px)), dtype=bool)
    for k, name in enumerate(TEXTURES):
        pick = np.flatnonzero(texture == k)
        if name == "solid" or len(pick) == 0:
            continue
        ph = phase[pick, None, None]  # (n, 1, 1)
        fx = (px[None, None, :] / period + ph) % 1.0  # (n, 1, S)
        fy = (px[None, :, None] / period + 0.7 * ph) % 1.0  # (n, S, 1)
        on[pick] = _pattern(name, fx, fy)
    return on


def _second_colors() -> np.ndarray:
    """(n_colors, 3): a darker shade for light colours, lighter for dark ones, for textures."""
    rgb = np.asarray(list(COLORS.values()), np.float32)
    light = rgb @ np.array([0.299, 0.587, 0.114], np.float32) > 0.35
    return np.where(light[:, None], 0.35 * rgb, rgb + 0.55 * (1.0 - rgb))


def outline(mask: np.ndarray) -> np.ndarray:
    """(N, S, S) bool inner 1-px edge of a mask: in the mask, with a 4-neighbour outside it."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    interior = (
        padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    )
    return mask & ~interior


def shape_coverage(p: RenderParams, j: np.ndarray, s: int) -> np.ndarray:
    """(N, S, S) float32 shape coverage: the mean of SUPERSAMPLE^2 template samples per pixel.

    Each sample point is mapped into its image's template frame. Averaging several points per
    pixel is what keeps small shapes apart: one point per pixel renders an 8-px circle and
    square as the same binary blob.
    """
    k = SUPERSAMPLE
    grid = (np.arange(s * k, dtype=np.float32) + 0.5) / (s * k)  # sample points in [0, 1]
    col = (p.position % 3 - 1).astype(np.float32)
    row = (p.position // 3 - 1).astype(np.float32)
    cx = 0.5 + POSITION_OFFSET * col + 0.06 * (j[:, 0] - 0.5)  # (N,) image fractions
    cy = 0.5 + POSITION_OFFSET * row + 0.06 * (j[:, 1] - 0.5)
    radius = np.asarray(SIZE_RADIUS, np.float32)[p.size] * (0.9 + 0.2 * j[:, 2])
    angle = np.deg2rad(24.0 * (j[:, 3] - 0.5))  # +-12 degrees
    dx = (grid[None, None, :] - cx[:, None, None]) / radius[:, None, None]  # (N, 1, S)
    dy = (cy[:, None, None] - grid[None, :, None]) / radius[:, None, None]  # (N, S, 1), y up
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, cos * dy - sin * dx  # (N, S, S) shape-frame coordinates
    t = TEMPLATE_RES
    iu = np.floor((u + 1.0) * (0.5 * t)).astype(np.int32)
    iv = np.floor((1.0 - v) * (0.5 * t)).astype(np.int32)
    valid = (iu >= 0) & (iu < t) & (iv >= 0) & (iv < t)
    flat = (p.shape[:, None, None] * t + np.clip(iv, 0, t - 1)) * t + np.clip(iu, 0, t - 1)
    fine = np.where(valid, np.take(shape_templates(), flat), np.float32(0.0))
    return fine.reshape(len(fine), s, k, s, k).mean(axis=(2, 4))


def _photo(p: RenderParams, j: np.ndarray, alpha: np.ndarray, canvas: str) -> np.ndarray:
    """(3, N, S, S) float32: textured, coloured shape over a cropped background canvas.

    canvas="grey" draws every shape on the same plain grey (no background attribute).
    """
    s = alpha.shape[1]
    rgb = np.asarray(list(COLORS.values()), np.float32)
    bright = (0.85 + 0.25 * j[:, 4])[:, None]  # colour brightness noise
    main, second = rgb[p.color] * bright, _second_colors()[p.color] * bright  # (N, 3)
    px = (np.arange(s, dtype=np.float32) + 0.5) * (32.0 / s)
    tex = _texture_on(p.texture, px, j[:, 7])  # (N, S, S)
    fg = second.T[:, :, None, None] + tex[None] * (main - second).T[:, :, None, None]
    if canvas == "grey":
        return GREY + alpha[None] * (fg - GREY)

    side = s * 3 // 2
    ox = (j[:, 5] * (side - s)).astype(np.int64)
    oy = (j[:, 6] * (side - s)).astype(np.int64)
    rows = oy[:, None] + np.arange(s)[None, :]  # (N, S)
    cols = ox[:, None] + np.arange(s)[None, :]
    flat = (p.background[:, None, None] * side + rows[:, :, None]) * side + cols[:, None, :]
    bg = np.take(background_canvases(s), flat, axis=1)  # (3, N, S, S)
    bg *= (0.92 + 0.16 * j[:, 8])[None, :, None, None]  # background brightness noise
    return bg + alpha[None] * (fg - bg)


def _sketch(alpha: np.ndarray) -> np.ndarray:
    """(3, N, S, S) float32: 1-px ink outline of the shape on plain paper; no colour, no fill."""
    ink = outline(alpha >= 0.5)[None]  # (1, N, S, S)
    paper = np.asarray(PAPER, np.float32)[:, None, None, None]
    stroke = np.asarray(INK, np.float32)[:, None, None, None]
    return paper + ink * (stroke - paper)


def render(params: RenderParams, image_size: int, canvas: str = "scene") -> np.ndarray:
    """Draw a batch: (N, 3, S, S) uint8. Deterministic given params (no randomness inside).

    canvas: "scene" (the textured backgrounds) or "grey" (plain; `params.background` unused).

    Works channel-first, (3, N, S, S), so every elementwise op runs over long contiguous rows.
    """
    j = params.jitter.astype(np.float32)
    alpha = shape_coverage(params, j, image_size)
    image = np.empty((3, *alpha.shape), np.float32)
    sketch = params.style == STYLES.index("sketch")
    photo = np.flatnonzero(~sketch)
    image[:, photo] = _photo(params.subset(photo), j[photo], alpha[photo], canvas)
    image[:, sketch] = _sketch(alpha[sketch])
    image *= 255.0
    image += 0.5
    np.clip(image, 0.0, 255.0, out=image)
    return image.astype(np.uint8).transpose(1, 0, 2, 3).copy()  # (N, 3, S, S)
