"""What the composited worlds (`shapes`, `fashion`) compute from the knobs they share.

Both configs hold the same caption, canvas and size knobs (`fashion` reads them from
`data.shapes`); the methods over them live here once. A config using this mixin names its
attributes in the class variable `ATTRIBUTES`.
"""

from __future__ import annotations

from typing import ClassVar

from mmcl.data.worlds import render
from mmcl.data.worlds.captions import CAPTION_PRESETS, resolve_caption_probs
from mmcl.errors import MMCLError


class SharedKnobs:
    """Caption probabilities, visible attributes and split sizes from the shared knobs."""

    ATTRIBUTES: ClassVar[tuple[str, ...]]  # every attribute an image of the world can show
    caption_probs: dict[str, float]
    caption_preset: str | None
    caption_mention: float
    canvas: str
    n_train: int
    n_test: int
    spurious_strength: float
    sketch_fraction: float
    label: str
    seed: int

    def validate_shared(self, label_key: str) -> None:
        """Raise MMCLError naming the first bad shared knob (`data.shapes.*`) or the label
        (`label_key`: where this world's label is set) and what it accepts."""
        for name in ("spurious_strength", "sketch_fraction", "caption_mention"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise MMCLError(f"data.shapes.{name} = {getattr(self, name)} must be in [0, 1]")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise MMCLError(f"data.shapes.seed = {self.seed!r} must be an integer >= 0")
        if self.caption_preset is not None and self.caption_preset not in CAPTION_PRESETS:
            valid = ", ".join(CAPTION_PRESETS)
            raise MMCLError(f"data.shapes.caption_preset = {self.caption_preset!r}; valid: {valid}")
        resolve_caption_probs(self.caption_probs, field="data.shapes.caption_probs")
        if self.canvas not in render.CANVASES:
            valid = ", ".join(render.CANVASES)
            raise MMCLError(f"data.shapes.canvas = {self.canvas!r}; valid: {valid}")
        if self.label not in self.visible_attributes():
            valid = ", ".join(self.visible_attributes())
            raise MMCLError(f"{label_key} = {self.label!r}; valid on this canvas: {valid}")

    def resolved_caption_probs(self) -> dict[str, float]:
        """P(a caption mentions each attribute): the preset's (scaled by `caption_mention`) or
        `caption_probs`; the grey canvas has no background to mention."""
        if self.caption_preset is None:
            probs = resolve_caption_probs(self.caption_probs)
        else:
            preset = resolve_caption_probs(self.caption_preset)
            probs = {name: p * self.caption_mention for name, p in preset.items()}
        return probs | {"background": 0.0} if self.canvas == "grey" else probs

    def visible_attributes(self) -> list[str]:
        """The attributes an image shows (the grey canvas has no background)."""
        hidden = {"background"} if self.canvas == "grey" else set()
        return [name for name in self.ATTRIBUTES if name not in hidden]

    def n_samples(self, split: str) -> int:
        return self.n_train if split == "train" else self.n_test
