"""The `shapes` world: coloured, textured shapes on backgrounds, with captions and named shifts.

A Trifeature-like image-caption world (Hermann & Lampinen 2020; used by MCL, Zhang et al. 2024)
with a controllable spurious feature (Xue et al. 2024): each class (shape) has a preferred
background, drawn with probability `spurious_strength` in training. Test splits change one factor
each (see `SHIFTS`). Everything is a function of the config and the split name: the same config
gives identical bytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from mmcl.data.worlds import render
from mmcl.data.worlds.base import WORLDS, World, WorldSplit
from mmcl.data.worlds.captions import (
    DEFAULT_CAPTION_PROBS,
    PROMPT_TEMPLATES,
    draw_mentions,
    make_captions,
)
from mmcl.data.worlds.knobs import SharedKnobs
from mmcl.data.worlds.silhouettes import silhouette_check
from mmcl.errors import MMCLError

ATTRIBUTE_VALUES: dict[str, list[str]] = {
    "shape": list(render.SHAPES),
    "color": list(render.COLORS),
    "texture": list(render.TEXTURES),
    "background": list(render.BACKGROUNDS),
    "size": list(render.SIZES),
    "position": list(render.POSITIONS),
    "style": list(render.STYLES),
}
# Class k's preferred background is background k (sand for circle, grass for square, ...).
PREFERRED_BACKGROUND = np.arange(len(render.SHAPES))
RENDER_CHUNK = 1024  # images per vectorized render call; bounds memory (~50 MB at 64 px)


@dataclass(frozen=True)
class Shift:
    """How one split draws its attributes; everything not named here follows training.

    background: "spurious" (preferred with prob. spurious_strength), "uniform" (independent of
    the class), "reversed" (always another class's preferred background), or "unseen" (only
    backgrounds held out of training, in worlds that hold some out: `fashion`).
    colors: "seen" (training colours) or "heldout". style: "train" or "sketch".
    """

    name: str
    description: str
    background: str = "spurious"
    colors: str = "seen"
    style: str = "train"


SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift("train", "training distribution: spurious background, seen colours, photos"),
        Shift("id", "in-distribution test: the training distribution, fresh samples"),
        Shift("balanced", "background independent of the class", background="uniform"),
        Shift(
            "spurious_reversed",
            "background is always another class's preferred background",
            background="reversed",
        ),
        Shift("sketch", "1-px outline drawings: no colour, texture or background", style="sketch"),
        Shift("unseen_colors", "only colours held out of training", colors="heldout"),
    )
}


# Fields that change captions or labels, never a pixel (see World.text_fields).
TEXT_FIELDS = frozenset({"caption_probs", "caption_preset", "caption_mention", "label"})


@dataclass
class ShapesConfig(SharedKnobs):
    """Parameters of the `shapes` world. Defaults give a 10-class, 32-px world in ~1 s."""

    ATTRIBUTES: ClassVar[tuple[str, ...]] = tuple(ATTRIBUTE_VALUES)

    image_size: int = 32  # 32 or 64 px
    n_train: int = 10_000
    n_test: int = 2_000  # per test split
    spurious_strength: float = 0.9  # P(background = class's preferred) in train and `id`
    sketch_fraction: float = 0.0  # share of sketches in train and `id`
    heldout_colors: list[str] = field(default_factory=lambda: ["pink", "cyan"])
    # Colours of train and every split but `unseen_colors`; None = all not held out. Fewer seen
    # colours make a narrower world whose unseen colours stay those of a broader one.
    seen_colors: list[str] | None = None
    # attribute -> P(caption mentions it); absent attributes are never mentioned. See captions.py.
    caption_probs: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CAPTION_PROBS))
    caption_preset: str | None = None  # "label" | "background" | "rich" | "full": replaces probs
    # P(a caption mentions each attribute its preset names). 1.0: fixed-form captions; below 1
    # their form varies (some name the class alone, as zero-shot prompts do), as real ones do.
    caption_mention: float = 1.0
    # "scene": textured backgrounds (spurious with the class). "grey": Trifeature's plain grey
    # canvas (Hermann & Lampinen 2020), for feature-suppression studies (MCL): no background
    # attribute, never captioned; with spurious_strength=0.1 every attribute is independent.
    canvas: str = "scene"
    # The attribute the class label names. "shape" is the world's task; another attribute makes
    # it the label a supervised model learns, so a gate can ask whether that attribute alone is
    # learnable (MCL's worlds: `mmcl.experiments.calibrated`).
    label: str = "shape"
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise MMCLError naming the first bad field and its allowed values."""
        if self.image_size not in (32, 64):
            raise MMCLError(f"data.shapes.image_size = {self.image_size} must be 32 or 64")
        for name in ("n_train", "n_test"):
            if int(getattr(self, name)) < 1:
                raise MMCLError(f"data.shapes.{name} = {getattr(self, name)} must be >= 1")
        unknown = [c for c in self.heldout_colors if c not in render.COLORS]
        if unknown or not 1 <= len(set(self.heldout_colors)) < len(render.COLORS):
            raise MMCLError(
                f"data.shapes.heldout_colors = {self.heldout_colors} must name 1 to "
                f"{len(render.COLORS) - 1} of: {', '.join(render.COLORS)}"
            )
        if self.seen_colors is not None:
            bad = [
                c for c in self.seen_colors if c not in render.COLORS or c in self.heldout_colors
            ]
            if bad or not self.seen_colors:
                raise MMCLError(
                    f"data.shapes.seen_colors = {self.seen_colors} must name 1 or more colours of "
                    f"{', '.join(render.COLORS)} that are not in heldout_colors"
                )
        self.validate_shared("data.shapes.label")

    def drawn_values(self, attribute: str) -> int:
        """How many values `attribute` takes under the training law (`balanced` included):
        every value, but the held-out colours."""
        if attribute != "color":
            return len(ATTRIBUTE_VALUES[attribute])
        seen = self.seen_colors or [c for c in render.COLORS if c not in self.heldout_colors]
        return len(seen)


def split_rngs(seed: int, split: str) -> list[np.random.Generator]:
    """Independent generators (attributes, jitter, captions) for one split of one seed."""
    children = np.random.SeedSequence([seed, zlib.crc32(split.encode())]).spawn(3)
    return [np.random.default_rng(c) for c in children]


def other_than(excluded: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform over {0..k-1} minus `excluded` (per sample)."""
    r = rng.integers(0, k - 1, len(excluded))
    return r + (r >= excluded)


def sample_background(
    shape: np.ndarray, rule: str, strength: float, rng: np.random.Generator
) -> np.ndarray:
    n_bg, preferred = len(render.BACKGROUNDS), PREFERRED_BACKGROUND[shape]
    keep = rng.random(len(shape)) < strength  # drawn for every rule: same stream shape
    if rule == "spurious":
        return np.where(keep, preferred, other_than(preferred, n_bg, rng))
    if rule == "uniform":
        return rng.integers(0, n_bg, len(shape))
    if rule == "reversed":
        return PREFERRED_BACKGROUND[other_than(shape, len(render.SHAPES), rng)]
    raise KeyError(rule)


def sample_attributes(cfg: ShapesConfig, shift: Shift, n: int, rng: np.random.Generator):
    """Attribute ids (N,) int64 for one split, following the training law except `shift`."""
    heldout = [ATTRIBUTE_VALUES["color"].index(c) for c in cfg.heldout_colors]
    seen = [i for i in range(len(render.COLORS)) if i not in heldout]
    if cfg.seen_colors is not None:
        seen = [ATTRIBUTE_VALUES["color"].index(c) for c in cfg.seen_colors]
    shape = rng.integers(0, len(render.SHAPES), n)
    sketch_p = 1.0 if shift.style == "sketch" else cfg.sketch_fraction
    return {
        "shape": shape,
        "color": rng.choice(np.asarray(heldout if shift.colors == "heldout" else seen), n),
        "texture": rng.integers(0, len(render.TEXTURES), n),
        "background": sample_background(shape, shift.background, cfg.spurious_strength, rng),
        "size": rng.integers(0, len(render.SIZES), n),
        "position": rng.integers(0, len(render.POSITIONS), n),
        "style": (rng.random(n) < sketch_p).astype(np.int64),
    }


def render_images(
    attributes: dict[str, np.ndarray], jitter: np.ndarray, image_size: int, canvas: str = "scene"
):
    """(N, 3, S, S) uint8 tensor, rendered in chunks of RENDER_CHUNK."""
    params = render.RenderParams(**attributes, jitter=jitter)
    chunks = [
        render.render(
            params.subset(np.arange(i, min(i + RENDER_CHUNK, len(jitter)))), image_size, canvas
        )
        for i in range(0, len(jitter), RENDER_CHUNK)
    ]
    return torch.from_numpy(np.concatenate(chunks))


def build_split(cfg: ShapesConfig, split: str, images: torch.Tensor | None = None) -> WorldSplit:
    """One split from scratch (no cache): attributes, images, captions. `images`, when given,
    were rendered for this split under a config differing only in TEXT_FIELDS: the attributes
    and jitter come from their own seeded streams, so they are these split's pixels."""
    cfg.validate()
    shift = SHIFTS[split]
    n = cfg.n_samples(split)
    attr_rng, jitter_rng, caption_rng = split_rngs(cfg.seed, split)
    attributes = sample_attributes(cfg, shift, n, attr_rng)
    jitter = jitter_rng.random((n, len(render.JITTER)))
    mentions = draw_mentions(n, cfg.resolved_caption_probs(), caption_rng)
    visible = cfg.visible_attributes()
    return WorldSplit(
        name=split,
        images=render_images(attributes, jitter, cfg.image_size, cfg.canvas)
        if images is None
        else images,
        labels=torch.from_numpy(attributes[cfg.label]).long(),
        attributes={k: torch.from_numpy(v).long() for k, v in attributes.items() if k in visible},
        attribute_values={k: list(v) for k, v in ATTRIBUTE_VALUES.items()},
        captions=make_captions(attributes, ATTRIBUTE_VALUES, mentions),
        class_names=list(ATTRIBUTE_VALUES[cfg.label]),
        prompt_templates=list(PROMPT_TEMPLATES),
        description=shift.description,
        meta={"world": "shapes", "seed": cfg.seed},
    )


WORLDS.register("shapes")(
    World(
        name="shapes",
        config_cls=ShapesConfig,
        splits={name: s.description for name, s in SHIFTS.items()},
        build=build_split,
        text_fields=TEXT_FIELDS,
        attribute_values=ATTRIBUTE_VALUES,
        noun="shape",
        sanity=silhouette_check,
    )
)
