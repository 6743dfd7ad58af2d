"""A torch Dataset over a rendered world split that hands out ready `Batch`es.

Batched fetch: torch's DataLoader calls `__getitems__(indices)` when a dataset has it, so one
call gathers, normalizes and augments a whole batch with tensor ops; pass `collate_batches` as the
DataLoader's `collate_fn` to keep that Batch as it is. Captions are tokenized once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch.utils.data import Dataset

from mmcl.data.augment import simclr_view_transform
from mmcl.data.batch import Batch
from mmcl.data.seeds import mix
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError

ViewTransform = Callable[[torch.Tensor], torch.Tensor]  # uint8 (N,3,H,W) -> (N,3,S,S)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 or [0, 1] float (..., 3, H, W) -> float normalized with open_clip's OpenAI stats."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(3, 1, 1)
    return (x - mean) / std


class WorldDataset(Dataset):
    """Map-style dataset over a `WorldSplit`; every fetch returns a `Batch`.

    tokenizer: list[str] -> (N, L) ids; when given, `Batch.texts` holds each sample's caption.
    view_transform: batch view augmentation (default SimCLR's when n_views > 0).
    n_views: number of augmented views per sample in `Batch.views` (0: none).
    view_seed: when given, a batch's views are drawn from (view_seed, its indices) alone, not
        from the global RNG, so they do not depend on which DataLoader worker made the batch
        and a resumed run sees the same views with any `data.num_workers`.
    """

    def __init__(
        self,
        split: WorldSplit,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
        view_transform: ViewTransform | None = None,
        n_views: int = 0,
        view_seed: int | None = None,
    ) -> None:
        if n_views < 0:
            raise MMCLError(f"n_views = {n_views} must be >= 0")
        self.split = split
        self.n_views = n_views
        self.view_seed = view_seed
        self.view_transform = view_transform
        if n_views > 0 and view_transform is None:
            self.view_transform = simclr_view_transform(split.image_size)
        self.tokens = tokenizer(list(split.captions)) if tokenizer is not None else None

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)  # (B,)
        raw = self.split.images[index]  # (B, 3, H, W) uint8
        return Batch(
            images=normalize(raw),
            labels=self.split.labels[index],
            index=index,
            texts=self.tokens[index] if self.tokens is not None else None,
            attributes={k: v[index] for k, v in self.split.attributes.items()},
            views=self._views(raw, index) if self.n_views > 0 else None,
        )

    def _views(self, raw: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(B, V, 3, S, S) normalized views, all B * V drawn in one transform call."""
        b, v = raw.shape[0], self.n_views
        repeated = raw.repeat_interleave(v, dim=0)  # (B*V, 3, H, W), sample-major
        if self.view_seed is None:
            views = self.view_transform(repeated)
        else:  # any transform drawing from torch's global RNG, which is left as it was
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(mix(self.view_seed, *index.tolist()) % 2**63)
                views = self.view_transform(repeated)
        views = normalize(views)  # (B*V, 3, S, S)
        return views.view(b, v, *views.shape[1:])

    def captions_for(self, indices: Sequence[int] | torch.Tensor) -> list[str]:
        return [self.split.captions[int(i)] for i in indices]


def collate_batches(batch: Batch) -> Batch:
    """DataLoader `collate_fn` for datasets whose `__getitems__` already returns a Batch."""
    if not isinstance(batch, Batch):
        raise MMCLError(
            f"collate_batches got {type(batch).__name__}, expected a Batch: use it only with "
            "datasets that implement __getitems__ (e.g. WorldDataset)"
        )
    return batch
