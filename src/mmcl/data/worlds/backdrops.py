"""Backgrounds of the `fashion` world: real photographed textures where a package ships them.

scikit-image's wheel (and Debian's python3-skimage) bundles a few real photographs; the brick
wall, grass and gravel become three of the ten training backgrounds, the moon's surface and the
Hubble deep field the two held out of training (`unseen_backgrounds`). The other seven are the
`shapes` world's drawn looks (`render.BACKGROUNDS`). Each is a fixed (C, C, 3) canvas, C = 1.5x
the image side, from which every image crops its own window, as in `render`.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from mmcl.data.worlds import render
from mmcl.errors import MMCLError

# name -> (base RGB the photo's grey levels shade, scikit-image data file; None = drawn look)
PHOTOS: dict[str, tuple[tuple[float, float, float], str | None]] = {
    "grass": ((0.35, 0.62, 0.25), "grass.png"),
    "brick": ((0.62, 0.28, 0.20), "brick.png"),
    "gravel": ((0.55, 0.52, 0.48), "gravel.png"),
    "moon": ((0.80, 0.80, 0.78), "moon.png"),
    "space": ((1.0, 1.0, 1.0), "hubble_deep_field.jpg"),
}
# Class k's preferred background is SEEN[k]; UNSEEN never appear in training.
SEEN = ("sand", "grass", "sky", "night", "brick", "snow", "gravel", "ocean", "forest", "sunset")
UNSEEN = ("moon", "space")
BACKGROUNDS = (*SEEN, *UNSEEN)


def skimage_data(name: str) -> Path:
    """A photo bundled with scikit-image, found without importing it (a mmcl dependency)."""
    spec = importlib.util.find_spec("skimage")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "data" / name
        if path.is_file():
            return path
    raise MMCLError(
        f"the fashion world's {name} background comes with scikit-image, which is not "
        "installed here: `pip install scikit-image` (a dependency of mmcl)"
    )


def photo_canvas(name: str, side: int) -> np.ndarray:
    """(side, side, 3) float32: the photo's centre square, box-filtered to `side`, its grey
    levels shading the base colour (a colour photo is kept in colour)."""
    base, file = PHOTOS[name]
    with Image.open(skimage_data(file)) as image:
        image = image.convert("RGB")
        edge = min(image.size)
        left, top = (image.width - edge) // 2, (image.height - edge) // 2
        square = image.crop((left, top, left + edge, top + edge))
        pixels = np.asarray(square.resize((side, side), Image.Resampling.BOX), np.float32) / 255
    if name == "space":
        return pixels
    grey = pixels.mean(axis=-1, keepdims=True)
    return np.clip((0.45 + grey) * np.asarray(base, np.float32), 0.0, 1.0)


@lru_cache(maxsize=4)
def backdrop_canvases(image_size: int) -> np.ndarray:
    """(len(BACKGROUNDS), C, C, 3) float32 canvases, C = 1.5x the image side."""
    side = image_size * 3 // 2
    rng = np.random.default_rng(12345)  # the drawn looks' fixed noise, as in `render`
    looks = []
    for name in BACKGROUNDS:
        if name in PHOTOS:
            looks.append(photo_canvas(name, side))
        else:
            base, pattern = render.BACKGROUNDS[name]
            looks.append(render.background_look(pattern, np.asarray(base, np.float32), side, rng))
    return np.stack(looks)
