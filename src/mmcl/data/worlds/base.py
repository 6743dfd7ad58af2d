"""What every built-in world provides: a registry entry and a rendered split (`WorldSplit`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from mmcl.data.record_images import RecordImages
from mmcl.errors import MMCLError
from mmcl.registry import Registry


@dataclass(frozen=True)
class World:
    """A registered world: its config dataclass, its splits, and how to build one split.

    splits: split name -> one-line description (the CLI prints these; "train" plus test shifts).
    build(cfg, split, images) renders the split from scratch, or reuses `images` (rendered
    for a config that differs only in `text_fields`); `load_world` adds the disk cache around it.
    text_fields: config fields that change captions or labels but never a pixel, so splits
    that differ only in them share one cached set of images (the demo's caption arms do).
    attribute_values: every attribute an image can show -> its value names.
    noun: the attribute that names the object, the class by default (`shape`, `item`): what
    an experiment about "the core feature" probes.
    """

    name: str
    config_cls: type
    splits: dict[str, str]
    build: Callable[[Any, str, torch.Tensor | None], WorldSplit]
    text_fields: frozenset[str] = frozenset()
    attribute_values: dict[str, list[str]] = field(default_factory=dict)
    noun: str = "shape"
    # `mmcl data check WORLD`'s first gate: what the world is made of, checked (shapes: its
    # silhouettes differ; fashion: the dataset files hold the published images).
    sanity: Callable[[Any], WorldCheck] | None = None


@dataclass(frozen=True)
class WorldCheck:
    """A world's sanity gate: lines to print, and what failed (empty when it passed)."""

    lines: list[str]
    failures: list[str]


WORLDS: Registry[World] = Registry("world")


@dataclass
class WorldSplit:
    """One split of a rendered world, fully in memory, or of real data (images possibly on disk).

    images:           (N, 3, H, W) uint8; for real data read for evaluation, `RecordImages`
                      that stand for that tensor and decode each image when it is read.
    labels:           (N,) long class ids (= attributes["shape"] for `shapes`).
    attributes:       attribute name -> (N,) long value ids; includes the class attribute.
    attribute_values: attribute name -> value names, indexed by those ids.
    captions:         N captions, fixed at build time.
    caption_sets:     every caption of each image, where a dataset has several (COCO's 5);
                      retrieval scores over all of them. Empty: `captions` is the only one.
    class_names:      names of the label ids (used to fill `prompt_templates` for zero-shot).
    """

    name: str
    images: torch.Tensor | RecordImages
    labels: torch.Tensor
    attributes: dict[str, torch.Tensor]
    attribute_values: dict[str, list[str]]
    captions: list[str]
    class_names: list[str]
    prompt_templates: list[str]
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    caption_sets: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        sizes = {"labels": len(self.labels), "captions": len(self.captions)}
        sizes.update({f"attributes[{k}]": len(v) for k, v in self.attributes.items()})
        wrong = {k: v for k, v in sizes.items() if v != n}
        if wrong:
            raise MMCLError(f"split {self.name!r}: {wrong} do not match {n} images")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    # As a training source (beside `RecordSet` and `ShardSet`, which answer the same):
    def image_size_for(self, configured: int) -> int:
        """A rendered split's own image size (`data.image_size` is for files)."""
        return self.image_size

    def first_bad(self) -> str:
        """Rendered images have no bad rows."""
        return ""

    def missing_captions(self) -> str:
        """Why a method that trains on captions cannot train on this ("" when it can)."""
        return "" if any(self.captions) else f"split {self.name!r} has no captions"

    def visit(self, visitor: Any) -> Any:
        """`visitor.world(self)`: what the visitor makes of a world's split."""
        return visitor.world(self)

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors/lists/strings only, so `torch.load(weights_only=True)` can read it."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> WorldSplit:
        return cls(**state)
