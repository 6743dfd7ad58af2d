"""Sample strips: a few images of each split with their captions, so a reader sees what
"spurious_reversed" or "sketch" looks like before reading a number about it.

Images are inline PNGs; captions are HTML text, so they wrap and stay searchable.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from mmcl.config import load_config
from mmcl.data.worlds import WorldSplit, load_world
from mmcl.errors import MMCLError
from mmcl.train.config import RunConfig, as_written

log = logging.getLogger(__name__)

PER_SPLIT = 8


def image_data_uri(image) -> str:
    """`data:image/png;base64,...` of one (3, H, W) uint8 tensor."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def strip_html(split: WorldSplit, n: int = PER_SPLIT) -> str:
    """The first `n` samples of one split, each image above its caption."""
    cells = "".join(
        f"<div><img alt='{html.escape(split.captions[i])}' src='{image_data_uri(split.images[i])}'"
        f"/>{html.escape(split.captions[i])}</div>"
        for i in range(min(n, len(split)))
    )
    what = f": {html.escape(split.description)}" if split.description else ""
    return (
        f"<figure class='strip'><figcaption><b>{html.escape(split.name)}</b>{what}</figcaption>"
        f"<div class='samples'>{cells}</div></figure>"
    )


def samples_section(splits: Sequence[WorldSplit], n: int = PER_SPLIT) -> str:
    if not splits:
        return ""
    strips = "".join(strip_html(split, n) for split in splits)
    return f"<h2>What the splits look like</h2>{strips}"


def run_samples_html(run_dir: Path, n: int = PER_SPLIT) -> str:
    """The sample section for a run trained on a built-in world (train and every scored
    split, read from the world cache); "" for other data or an unreadable config."""
    config = run_dir / "config.yaml"
    if not config.is_file():
        return ""
    try:
        cfg = load_config(RunConfig, config, prepare=as_written)  # an older run's keys moved
    except MMCLError as err:
        log.warning("no sample images in the report: %s", err)
        return ""
    if cfg.data.format != "world":
        return ""
    names = list(dict.fromkeys(["train", *cfg.eval.splits]))
    cache = cfg.data.cache_dir or None
    return samples_section([load_world(cfg.data.world_config(), name, cache) for name in names], n)
