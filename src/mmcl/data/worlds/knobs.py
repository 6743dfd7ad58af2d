"""What the composited worlds (`shapes`, `fashion`) compute from the knobs they share.

Both configs hold the same caption, canvas and size knobs (`fashion` reads them from
`data.shapes`); the methods over them live here once. A config using this mixin names its
attributes in `attribute_names()`.
"""

from __future__ import annotations

from mmcl.data.worlds.captions import resolve_caption_probs


class SharedKnobs:
    """Caption probabilities, visible attributes and split sizes from the shared knobs."""

    caption_probs: dict[str, float]
    caption_preset: str | None
    caption_mention: float
    canvas: str
    n_train: int
    n_test: int

    def attribute_names(self) -> list[str]:
        raise NotImplementedError

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
        return [name for name in self.attribute_names() if name not in hidden]

    def n_samples(self, split: str) -> int:
        return self.n_train if split == "train" else self.n_test
