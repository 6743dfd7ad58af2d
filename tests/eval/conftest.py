"""A tiny model with the mmcl model interface, and batches for it, shared by the eval tests."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmcl.data.batch import Batch

IMAGE_SIZE = 4
VOCAB = 64


class FakeModel(nn.Module):
    """Fixed linear maps: flattened pixels -> backbone (F), -> embedding (D); tokens -> mean (D).

    Counts the images its image tower sees, so tests can check one forward pass per image.
    """

    has_text = True
    has_classifier = False

    def __init__(self, feature_dim: int = 8, embed_dim: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = nn.Linear(3 * IMAGE_SIZE * IMAGE_SIZE, feature_dim, bias=False)
        self.image_proj = nn.Linear(feature_dim, embed_dim, bias=False)
        self.token_embedding = nn.Embedding(VOCAB, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.images_seen = 0

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += images.shape[0]
        return self.backbone(images.flatten(1))  # (B, F)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.image_proj(self.backbone_features(images))  # (B, D)
        return nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.token_embedding(tokens).mean(dim=1)  # (B, D)
        return nn.functional.normalize(x, dim=-1) if normalize else x


def make_batches(n: int = 20, batch_size: int = 6, seed: int = 0) -> list[Batch]:
    """Random images, labels, captions and two attributes, split into batches (last one short)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    texts = torch.randint(0, VOCAB, (n, 5), generator=g)
    colour = torch.randint(0, 4, (n,), generator=g)
    size = torch.randint(0, 2, (n,), generator=g)
    return [
        Batch(
            images=images[s : s + batch_size],
            labels=labels[s : s + batch_size],
            index=torch.arange(s, min(s + batch_size, n)),
            texts=texts[s : s + batch_size],
            attributes={"colour": colour[s : s + batch_size], "size": size[s : s + batch_size]},
        )
        for s in range(0, n, batch_size)
    ]


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def batches() -> list[Batch]:
    return make_batches()
