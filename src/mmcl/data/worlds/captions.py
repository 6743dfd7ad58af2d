"""Caption grammar for the `shapes` world: which attributes a caption names, and how.

The class (shape) is always named; every other attribute is mentioned independently with its own
probability (caption richness, the knob of Xue et al. 2024's rich-caption claims). Mentions are
drawn once at build time from the split's seed, so a sample's caption is fixed.

Grammar, with optional parts in brackets:
    [a photo of | a sketch of] a [size] [color] [texture] SHAPE [on a BACKGROUND background][, POS].
e.g. "a photo of a small red striped circle on a sand background, in the top left corner."
     "a sketch of a star."   "a heart."
Sketches draw no colour, texture or background, so their captions never mention them.
Zero-shot prompts (`PROMPT_TEMPLATES`) use the same grammar with only the class filled in.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping

import numpy as np

from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError

CAPTION_ATTRIBUTES = ("color", "texture", "background", "size", "position", "style")
# Defaults: appearance words half the time, layout words less often; the style word ("a photo
# of" / "a sketch of") half the time so that both the bare and the "photo of" prompts match.
DEFAULT_CAPTION_PROBS: dict[str, float] = {
    "color": 0.5,
    "texture": 0.5,
    "background": 0.5,
    "size": 0.3,
    "position": 0.3,
    "style": 0.5,
}
# Named richness levels: every listed attribute is mentioned (with probability
# `ShapesConfig.caption_mention`, 1 by default), the others never.
CAPTION_PRESETS: dict[str, dict[str, float]] = {
    "label": {},
    "background": {"background": 1.0},
    "rich": {"background": 1.0, "color": 1.0, "texture": 1.0},
    # Details other than the shortcut (Xue et al.'s "type of detail", C5): the object's own
    # colour and texture, never the background that the spurious correlation rides on.
    "details": {"color": 1.0, "texture": 1.0},
    "full": dict.fromkeys(CAPTION_ATTRIBUTES, 1.0),
}
PROMPT_TEMPLATES = ("a {}.", "a photo of a {}.", "a sketch of a {}.")

TEXTURE_WORDS = {
    "solid": "solid",
    "striped": "striped",
    "diagonal": "diagonally striped",
    "dotted": "dotted",
    "checkered": "checkered",
    "gridded": "grid-patterned",
}
POSITION_PHRASES = {
    "top left": "in the top left corner",
    "top": "at the top",
    "top right": "in the top right corner",
    "left": "on the left",
    "center": "in the center",
    "right": "on the right",
    "bottom left": "in the bottom left corner",
    "bottom": "at the bottom",
    "bottom right": "in the bottom right corner",
}
VISIBLE_IN_SKETCH = {"size", "position", "style"}


def resolve_caption_probs(probs: Mapping[str, float] | str, field: str = "caption_probs"):
    """A preset name or a partial {attribute: probability} -> full dict; absent = never mentioned.

    Raises MMCLError naming `field` for unknown presets/attributes or probabilities outside [0, 1].
    """
    if isinstance(probs, str):
        if probs not in CAPTION_PRESETS:
            raise MMCLError(
                f"{field}: unknown caption preset {probs!r} (valid: {', '.join(CAPTION_PRESETS)})"
            )
        probs = CAPTION_PRESETS[probs]
    for name, p in probs.items():
        if name not in CAPTION_ATTRIBUTES:
            valid = ", ".join(CAPTION_ATTRIBUTES)
            raise MMCLError(f"{field}: unknown attribute {name!r} (valid: {valid})")
        if not 0.0 <= float(p) <= 1.0:
            raise MMCLError(f"{field}.{name} = {p} must be a probability in [0, 1]")
    return {name: float(probs.get(name, 0.0)) for name in CAPTION_ATTRIBUTES}


def draw_mentions(n: int, probs: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
    """(N, len(CAPTION_ATTRIBUTES)) bool: whether each caption mentions each attribute."""
    p = np.asarray([probs[name] for name in CAPTION_ATTRIBUTES])
    return rng.random((n, len(CAPTION_ATTRIBUTES))) < p[None, :]


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(values: Mapping[str, str], mentioned: set[str], noun: str = "shape") -> str:
    """One caption from attribute value names and the set of attributes to mention.

    noun: the attribute naming the object (the `shapes` world's shape, the `fashion` world's
    item); a mentioned attribute the world does not have is left out.
    """
    mentioned = mentioned & set(values)
    if values["style"] == "sketch":
        mentioned = mentioned & VISIBLE_IN_SKETCH
    words = [values[a] for a in ("size", "color") if a in mentioned]
    if "texture" in mentioned:
        words.append(TEXTURE_WORDS[values["texture"]])
    words.append(values[noun])
    text = f"{article(words[0])} {' '.join(words)}"
    if "style" in mentioned:
        text = f"a {values['style']} of {text}"
    if "background" in mentioned:
        text += f" on {article(values['background'])} {values['background']} background"
    if "position" in mentioned:
        text += f", {POSITION_PHRASES[values['position']]}"
    return text + "."


def make_captions(
    attributes: Mapping[str, np.ndarray],
    attribute_values: Mapping[str, list[str]],
    mentions: np.ndarray,
    noun: str = "shape",
) -> list[str]:
    """Captions for N samples: attribute ids (N,) per name, value names, (N, A) mentions, and
    the attribute that names the object (`caption`)."""
    names = list(attributes)
    columns = [np.asarray(attribute_values[a], dtype=object)[attributes[a]] for a in names]
    captions = []
    for i, row in enumerate(zip(*columns, strict=True)):
        mentioned = {a for a, m in zip(CAPTION_ATTRIBUTES, mentions[i], strict=True) if m}
        captions.append(caption(dict(zip(names, row, strict=True)), mentioned, noun))
    return captions


def recaption(split: WorldSplit, richness: Mapping[str, float] | str, seed: int = 0) -> WorldSplit:
    """The same images and attributes with captions redrawn at another richness.

    richness: a preset name (`CAPTION_PRESETS`) or {attribute: probability}. Cheap (no
    rendering), so caption-richness sweeps share one rendered world.
    """
    probs = resolve_caption_probs(richness, field="richness")
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(split.name.encode())]))
    attributes = {k: v.numpy() for k, v in split.attributes.items()}
    mentions = draw_mentions(len(split), probs, rng)
    noun = split.meta.get("noun", "shape")  # the attribute naming the object (fashion: item)
    captions = make_captions(attributes, split.attribute_values, mentions, noun)
    return dataclasses.replace(split, captions=captions)
