"""A SimCLR dataset whose positive view comes from a *partner* sample instead of the same image.

Two methods train on it, each building it in its `training_dataset` (Zhang, Wang & Wang, ICML
2023):
- `text_simclr`, text-induced positives (spec 1.3, the MMCL view of SSCL): the partner is
  another image with the identical caption (`caption_partners`), `mode="replace"` gives views
  [aug(i), aug(partner(i))];
- `resampled_simclr` with `neighbours=index`, dataset-level new positives (spec 2.2, from a
  precomputed nearest-neighbour index): `mode="append"` gives [aug(i), aug(i), aug(partner(i))],
  the third an extra positive.

Each fetch draws one partner per sample uniformly among its candidates (a row of `partners`
(N, K), -1 = no candidate; a sample without any is its own partner) from torch's global RNG, like
the view augmentation, so a resumed run replays the same draws. The drawn ids travel in
`Batch.attributes["partner_index"]`, which is also how `resampled_simclr` knows the third view is
a neighbour and not a third view of the same image.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from mmcl.config import check_choice
from mmcl.data.augment import simclr_view_transform
from mmcl.data.batch import Batch
from mmcl.data.world_dataset import WorldDataset, normalize
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError

PARTNER_KEY = "partner_index"
PARTNER_LABEL_KEY = "partner_label"
MODES = ("replace", "append")
MAX_PARTNERS = 512  # caption partners kept per image (a random subset of a larger caption group)


def caption_partners(
    captions: Sequence[str], max_partners: int = MAX_PARTNERS, seed: int = 0
) -> torch.Tensor:
    """(N, K) ids of the *other* images with the identical caption, -1 padded (K <= max)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, caption in enumerate(captions):
        groups[caption].append(i)
    rng = np.random.default_rng(seed)
    width = max(1, min(max_partners, max(len(g) for g in groups.values()) - 1))
    out = np.full((len(captions), width), -1, dtype=np.int64)
    for members in groups.values():
        ids = np.asarray(members)
        for i in members:
            others = ids[ids != i]
            if len(others) > width:
                others = rng.choice(others, width, replace=False)
            out[i, : len(others)] = others
    return torch.from_numpy(out)


class PartnerViewDataset(WorldDataset):
    """`WorldDataset` with partner views; see the module docstring."""

    def __init__(
        self, split: WorldSplit, partners: torch.Tensor, mode: str, augment: str = "default"
    ) -> None:
        super().__init__(split)
        check_choice("partner view mode", mode, MODES)
        if partners.ndim != 2 or len(partners) != len(split):
            raise MMCLError(
                f"partners must be (N={len(split)}, K) candidate ids, got {tuple(partners.shape)}"
            )
        if (partners >= len(split)).any() or (partners < -1).any():
            raise MMCLError("partners holds ids outside [0, N) (use -1 for 'no candidate')")
        self.partners = partners.long()
        self.mode = mode
        self.views_per_sample = 2 if mode == "replace" else 3  # n_views stays 0 for the base
        self.augment = simclr_view_transform(split.image_size, augment)

    def draw_partners(self, index: torch.Tensor) -> torch.Tensor:
        """(B,) one uniformly drawn candidate per sample (itself when it has none)."""
        rows = self.partners[index]  # (B, K)
        valid = rows >= 0
        weights = valid.float() + (~valid.any(dim=1, keepdim=True)).float() * 1e-12
        pick = torch.multinomial(weights, 1).squeeze(1)  # (B,)
        chosen = rows.gather(1, pick[:, None]).squeeze(1)
        return torch.where(valid.any(dim=1), chosen, index)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        batch = super().__getitems__(indices)
        partner = self.draw_partners(batch.index)  # (B,)
        own = self.split.images[batch.index]  # (B, 3, H, W) uint8
        other = self.split.images[partner]
        stacked = [own, other] if self.mode == "replace" else [own, own, other]
        raw = torch.stack(stacked, dim=1).flatten(0, 1)  # (B*V, 3, H, W), sample-major
        views = normalize(self.augment(raw))  # (B*V, 3, S, S)
        batch.views = views.view(len(batch), self.views_per_sample, *views.shape[1:])
        extra = {PARTNER_KEY: partner, PARTNER_LABEL_KEY: self.split.labels[partner]}
        batch.attributes = {**batch.attributes, **extra}
        return batch
