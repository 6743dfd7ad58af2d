"""The one batch type that flows from every data source into every method."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch


@dataclass
class Batch:
    """A batch of paired samples.

    images:     (B, 3, H, W) float, normalized for the image tower.
    texts:      (B, L) token ids of one caption per image, or None for image-only data.
    labels:     (B,) class ids (the world's class attribute), -1 where unknown.
    attributes: attribute name -> (B,) value ids, for probes and samplers; empty for real data.
    index:      (B,) dataset indices, so samplers and caches can refer back to samples.
    views:      (B, V, 3, H, W) extra augmented views (SimCLR), or None.
    """

    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    texts: torch.Tensor | None = None
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    views: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        def move(value):
            if isinstance(value, torch.Tensor):
                return value.to(device, non_blocking=non_blocking)
            if isinstance(value, dict):
                return {k: move(v) for k, v in value.items()}
            return value

        return Batch(**{f.name: move(getattr(self, f.name)) for f in fields(self)})
