"""The `fashion` world: real Fashion-MNIST photos with the `shapes` world's shortcut and shifts.

Every image is one Fashion-MNIST product photo (the object, and the class to learn) composited
at 32 px on a background that goes with its class in training (probability `spurious_strength`,
as in `shapes`), tinted with a colour (a second, class-free detail). Training images come from
the dataset's 60,000 training photos and every test split from its 10,000 test photos, so no
test object was seen in training. Splits change one factor each, with the `shapes` world's names
(`id`, `balanced`, `spurious_reversed`, `sketch`, `unseen_colors`) plus `unseen_backgrounds`.

The knobs both composited worlds share (sizes, strength, tints, captions, canvas, seed) are read
from `data.shapes`, so every experiment's overrides apply to either world; the fashion world's
own (`root`, `label`) come from `data.world_options`. Everything is a function of the config,
the split name and the dataset files: the same three give identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from mmcl.data.worlds import backdrops, render
from mmcl.data.worlds.base import WORLDS, World, WorldCheck, WorldSplit
from mmcl.data.worlds.cache import default_cache_dir
from mmcl.data.worlds.captions import (
    DEFAULT_CAPTION_PROBS,
    PROMPT_TEMPLATES,
    draw_mentions,
    make_captions,
)
from mmcl.data.worlds.fashion_mnist import CLASSES, COUNTS, IMAGE_SIDE, load_part
from mmcl.data.worlds.knobs import SharedKnobs
from mmcl.data.worlds.shapes import Shift, other_than, split_rngs
from mmcl.errors import MMCLError

ATTRIBUTE_VALUES: dict[str, list[str]] = {
    "item": list(CLASSES),
    "color": list(render.COLORS),
    "background": list(backdrops.BACKGROUNDS),
    "style": list(render.STYLES),
}
NOUN = "item"  # the attribute a caption names the object by
# A pixel belongs to the object where the photo is brighter than this (Fashion-MNIST's
# background is 0; 90% of object pixels are above 30), with a soft edge below it.
OBJECT_LEVEL = 24.0
JITTER = ("dx", "dy", "tint_brightness", "bg_x", "bg_y", "bg_brightness")
IMAGE_SIZE = 32


SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift("train", "training distribution: Fashion-MNIST train photos, spurious background"),
        Shift("id", "in-distribution test: Fashion-MNIST test photos, the training law"),
        Shift("balanced", "background independent of the class", background="uniform"),
        Shift(
            "spurious_reversed",
            "background is always another class's preferred background",
            background="reversed",
        ),
        Shift(
            "unseen_backgrounds",
            "backgrounds never seen in training (the moon, the deep field)",
            background="unseen",
        ),
        Shift("sketch", "1-px outline of the object: no tint, no background", style="sketch"),
        Shift("unseen_colors", "only tints held out of training", colors="heldout"),
    )
}
# Knobs read from `data.shapes` (the `ShapesConfig` fields of the same name and meaning).
SHARED_KNOBS = (
    "image_size", "n_train", "n_test", "spurious_strength", "sketch_fraction",
    "heldout_colors", "seen_colors", "caption_probs", "caption_preset", "caption_mention",
    "canvas", "seed",
)  # fmt: skip
TEXT_FIELDS = frozenset({"caption_probs", "caption_preset", "caption_mention", "label"})


@dataclass
class FashionConfig(SharedKnobs):
    """Parameters of the `fashion` world; the shared knobs mean what they mean for `shapes`."""

    ATTRIBUTES: ClassVar[tuple[str, ...]] = tuple(ATTRIBUTE_VALUES)

    image_size: int = IMAGE_SIZE
    n_train: int = 10_000  # drawn from the 60,000 training photos (without replacement)
    n_test: int = 2_000  # per test split, from the 10,000 test photos (cycled past 10,000)
    spurious_strength: float = 0.9
    sketch_fraction: float = 0.0
    heldout_colors: list[str] = field(default_factory=lambda: ["pink", "cyan"])
    seen_colors: list[str] | None = None
    caption_probs: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CAPTION_PROBS))
    caption_preset: str | None = None
    caption_mention: float = 1.0
    canvas: str = "scene"  # "scene" or "grey" (plain canvas, no background attribute)
    label: str = NOUN  # the attribute the class label names
    seed: int = 0
    # A folder holding the four idx files (gzipped or not, or torchvision's FashionMNIST/raw
    # under it); "" = Debian's dataset-fashion-mnist package.
    root: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise MMCLError naming the first bad field and what it accepts."""
        if self.image_size != IMAGE_SIZE:
            raise MMCLError(
                f"data.shapes.image_size = {self.image_size}: the fashion world is {IMAGE_SIZE} "
                f"px (its {IMAGE_SIDE}-px photos are not upsampled)"
            )
        if not 1 <= int(self.n_train) <= 60_000:
            raise MMCLError(f"data.shapes.n_train = {self.n_train}: fashion has 1 to 60,000")
        if int(self.n_test) < 1:
            raise MMCLError(f"data.shapes.n_test = {self.n_test} must be >= 1")
        colors = ATTRIBUTE_VALUES["color"]
        if [c for c in self.heldout_colors if c not in colors] or not self.heldout_colors:
            raise MMCLError(
                f"data.shapes.heldout_colors = {self.heldout_colors}: name 1 or more of "
                f"{', '.join(colors)}"
            )
        if self.seen_colors is not None and (
            not self.seen_colors
            or [c for c in self.seen_colors if c not in colors or c in self.heldout_colors]
        ):
            raise MMCLError(
                f"data.shapes.seen_colors = {self.seen_colors}: name 1 or more colours of "
                f"{', '.join(colors)} that are not held out"
            )
        self.validate_shared("data.world_options.label")

    def drawn_values(self, attribute: str) -> int:
        """How many values `attribute` takes under the training law (`balanced` included):
        every value, but the held-out tints and the unseen backgrounds."""
        if attribute == "background":
            return len(backdrops.SEEN)
        if attribute != "color":
            return len(ATTRIBUTE_VALUES[attribute])
        colors = ATTRIBUTE_VALUES["color"]
        return len(self.seen_colors or [c for c in colors if c not in self.heldout_colors])

    @classmethod
    def from_knobs(cls, shared: object, own: dict) -> FashionConfig:
        """The config from `data.shapes` (the shared knobs) and `data.world_options` (the rest);
        a shared knob set in `world_options` is refused, so a run has one place for each."""
        doubled = sorted(set(own) & set(SHARED_KNOBS))
        if doubled:
            raise MMCLError(
                f"data.world_options.{doubled[0]}: the fashion world reads {doubled[0]} from "
                f"data.shapes.{doubled[0]} (the knobs it shares with shapes)"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(own) - known)
        if unknown:
            valid = ", ".join(sorted(known - set(SHARED_KNOBS)))
            raise MMCLError(f"data.world_options.{unknown[0]}: unknown; the fashion world's own: "
                            f"{valid}")  # fmt: skip
        return cls(**{k: getattr(shared, k) for k in SHARED_KNOBS}, **own)


def dataset_part(cfg: FashionConfig, split: str):
    """The Fashion-MNIST part a split draws its photos from: train for train, else test."""
    return load_part(cfg.root, "train" if split == "train" else "test", str(default_cache_dir()))


def source_check(cfg: FashionConfig) -> WorldCheck:
    """`mmcl data check fashion`'s gate (a): the files it reads, and that they hold the
    published 60,000 training and 10,000 test images, every class present."""
    lines, failures = [], []
    for part in ("train", "test"):
        data = load_part(cfg.root, part, str(default_cache_dir()))
        per_class = torch.bincount(data.labels, minlength=len(CLASSES))
        lines.append(
            f"{part}: {len(data.labels):,} images, {int(per_class.min()):,} to "
            f"{int(per_class.max()):,} per class, from {data.files[0]} and {data.files[1]}"
        )
        if len(data.labels) != COUNTS[part] or int(per_class.min()) == 0:
            failures.append(
                f"(a) {part} holds {len(data.labels):,} images ({int((per_class > 0).sum())} "
                f"classes), not the published {COUNTS[part]:,} (10 classes)"
            )
    lines.append(
        "gate (a): the files hold Fashion-MNIST's published 60,000 + 10,000 images: "
        f"{'FAILED' if failures else 'passed'}"
    )
    return WorldCheck(lines, failures)


def draw_photos(n: int, available: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) photo indices: a random permutation, cycled through again (re-shuffled) past its end,
    so no photo repeats before all have been used."""
    rounds = -(-n // available)
    return np.concatenate([rng.permutation(available) for _ in range(rounds)])[:n]


def sample_background(item: np.ndarray, rule: str, strength: float, rng: np.random.Generator):
    """Background ids (N,): class k's own is SEEN[k] (`backdrops`)."""
    n_seen = len(backdrops.SEEN)
    keep = rng.random(len(item)) < strength  # drawn for every rule: same stream shape
    if rule == "spurious":
        return np.where(keep, item, other_than(item, n_seen, rng))
    if rule == "uniform":
        return rng.integers(0, n_seen, len(item))
    if rule == "reversed":
        return other_than(item, n_seen, rng)
    if rule == "unseen":
        return n_seen + rng.integers(0, len(backdrops.UNSEEN), len(item))
    raise KeyError(rule)


def sample_attributes(cfg: FashionConfig, shift: Shift, labels: np.ndarray, rng):
    """Attribute ids (N,) for the drawn photos' classes, the training law except `shift`."""
    colors = ATTRIBUTE_VALUES["color"]
    heldout = [colors.index(c) for c in cfg.heldout_colors]
    seen = [i for i in range(len(colors)) if i not in heldout]
    if cfg.seen_colors is not None:
        seen = [colors.index(c) for c in cfg.seen_colors]
    n = len(labels)
    sketch_p = 1.0 if shift.style == "sketch" else cfg.sketch_fraction  # `shapes.Shift` styles
    return {
        "item": labels,
        "color": rng.choice(np.asarray(heldout if shift.colors == "heldout" else seen), n),
        "background": sample_background(labels, shift.background, cfg.spurious_strength, rng),
        "style": (rng.random(n) < sketch_p).astype(np.int64),
    }


def place(photos: np.ndarray, dx: np.ndarray, dy: np.ndarray, side: int) -> np.ndarray:
    """(N, side, side) float32 in [0, 1]: each 28-px photo pasted at its offset on black."""
    out = np.zeros((len(photos), side, side), np.float32)
    for ox, oy in set(zip(dx.tolist(), dy.tolist(), strict=True)):
        pick = np.flatnonzero((dx == ox) & (dy == oy))
        out[pick, oy : oy + IMAGE_SIDE, ox : ox + IMAGE_SIDE] = photos[pick] / 255.0
    return out


def composite(photos: np.ndarray, attributes: dict, jitter: np.ndarray, canvas: str) -> np.ndarray:
    """(N, 3, 32, 32) uint8: tinted photos over cropped backgrounds (or grey, or sketches).

    The photo's grey levels shade its tint, so the product keeps its own folds, prints and
    stitching; the object's edge is where the photo rises above `OBJECT_LEVEL`.
    """
    s, slack = IMAGE_SIZE, IMAGE_SIZE - IMAGE_SIDE
    dx = np.minimum((jitter[:, 0] * (slack + 1)).astype(np.int64), slack)
    dy = np.minimum((jitter[:, 1] * (slack + 1)).astype(np.int64), slack)
    lum = place(photos, dx, dy, s)  # (N, S, S)
    alpha = np.clip(lum * (255.0 / OBJECT_LEVEL), 0.0, 1.0)
    rgb = np.asarray(list(render.COLORS.values()), np.float32)[attributes["color"]]
    tint = rgb * (0.85 + 0.25 * jitter[:, 2:3])  # (N, 3)
    fg = tint.T[:, :, None, None] * (0.3 + 0.7 * lum[None])  # (3, N, S, S)
    if canvas == "grey":
        bg = np.full_like(fg, render.GREY)
    else:
        canvases = backdrops.backdrop_canvases(s)  # (B, C, C, 3)
        side = canvases.shape[1]
        ox = (jitter[:, 3] * (side - s)).astype(np.int64)
        oy = (jitter[:, 4] * (side - s)).astype(np.int64)
        rows = oy[:, None, None] + np.arange(s)[None, :, None]
        cols = ox[:, None, None] + np.arange(s)[None, None, :]
        bg = canvases[attributes["background"][:, None, None], rows, cols].transpose(3, 0, 1, 2)
        bg = bg * (0.92 + 0.16 * jitter[:, 5])[None, :, None, None]
    image = bg + alpha[None] * (fg - bg)
    sketch = attributes["style"] == render.STYLES.index("sketch")
    if sketch.any():
        ink = render.outline(alpha[sketch] >= 0.5)[None]
        paper = np.asarray(render.PAPER, np.float32)[:, None, None, None]
        image[:, sketch] = paper + ink * (np.asarray(render.INK, np.float32)[:, None, None, None]
                                          - paper)  # fmt: skip
    return (np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)).transpose(1, 0, 2, 3).copy()


def build_split(cfg: FashionConfig, split: str, images: torch.Tensor | None = None) -> WorldSplit:
    """One split from the dataset files: photos, attributes, composited images, captions."""
    cfg.validate()
    shift = SHIFTS[split]
    part = dataset_part(cfg, split)
    n = cfg.n_samples(split)
    attr_rng, jitter_rng, caption_rng = split_rngs(cfg.seed, split)
    index = draw_photos(n, len(part.labels), attr_rng)
    attributes = sample_attributes(cfg, shift, part.labels.numpy()[index], attr_rng)
    jitter = jitter_rng.random((n, len(JITTER))).astype(np.float32)
    if images is None:
        images = torch.from_numpy(
            composite(part.images.numpy()[index], attributes, jitter, cfg.canvas)
        )
    mentions = draw_mentions(n, cfg.resolved_caption_probs(), caption_rng)
    visible = cfg.visible_attributes()
    return WorldSplit(
        name=split,
        images=images,
        labels=torch.from_numpy(attributes[cfg.label]).long(),
        attributes={k: torch.from_numpy(v).long() for k, v in attributes.items() if k in visible},
        attribute_values={k: list(v) for k, v in ATTRIBUTE_VALUES.items()},
        captions=make_captions(attributes, ATTRIBUTE_VALUES, mentions, noun=NOUN),
        class_names=list(ATTRIBUTE_VALUES[cfg.label]),
        prompt_templates=list(PROMPT_TEMPLATES),
        description=shift.description,
        meta={"world": "fashion", "seed": cfg.seed, "noun": NOUN,
              "source": [str(Path(f)) for f in part.files], "photos": index.tolist()},
    )  # fmt: skip


WORLDS.register("fashion")(
    World(
        name="fashion",
        config_cls=FashionConfig,
        splits={name: s.description for name, s in SHIFTS.items()},
        build=build_split,
        text_fields=TEXT_FIELDS,
        attribute_values=ATTRIBUTE_VALUES,
        noun=NOUN,
        sanity=source_check,
    )
)
