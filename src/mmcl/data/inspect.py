"""A PNG grid of samples with their captions, to see what a dataset actually contains."""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from mmcl.data.worlds.base import WorldSplit  # noqa: E402
from mmcl.io import atomic_write  # noqa: E402


def write_sample_grid(split: WorldSplit, path: str | os.PathLike, n: int = 16) -> Path:
    """Write the first `n` samples (image + wrapped caption) as a PNG grid, atomically."""
    n = min(n, len(split))
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.7 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(split.images[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title("\n".join(textwrap.wrap(split.captions[i], 28)), fontsize=7, y=-0.28)
    fig.suptitle(f"{split.name}: {split.description}", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write(Path(path), lambda handle: handle.write(buffer.getvalue()))
    return Path(path)
