"""Text towers on open_clip's BPE tokens: (B, L) token ids -> (B, D) embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from open_clip.transformer import TextTransformer
from torch import nn

from mmcl.errors import MMCLError
from mmcl.models.image import unbuildable_tower
from mmcl.models.tokenizer import VOCAB_SIZE
from mmcl.registry import Registry

TEXT_TOWERS: Registry = Registry("text tower")


@dataclass
class TextTowerSpec:
    width: int = 128
    layers: int = 2
    heads: int = 4
    context_length: int = 32
    embed_dim: int = 128
    open_clip_name: str = ""


class CausalTextTower(nn.Module):
    """A causal text transformer pooled at the end-of-text token (CLIP's text tower).

    Built from open_clip's parts, either a fresh `TextTransformer` at CPU size or the text half of
    an open_clip architecture. Padding after the batch's longest caption is dropped before the
    transformer: with a causal mask and end-token pooling the output is unchanged, and the short
    captions of the worlds then cost a fraction of the context length.
    """

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        self.token_embedding = source.token_embedding
        self.positional_embedding = source.positional_embedding
        self.transformer = source.transformer
        self.ln_final = source.ln_final
        self.text_projection = source.text_projection
        self.register_buffer("attn_mask", source.attn_mask, persistent=False)
        projection = self.text_projection
        self.output_dim = (
            projection.shape[1]
            if isinstance(projection, nn.Parameter)
            else (projection.out_features)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = trim_padding(tokens)  # (B, L')
        length = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:length]  # (B, L', W)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]  # (B, W) at end-of-text
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(pooled)
        return pooled @ self.text_projection  # (B, D)


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Drop the padding columns (id 0) after the batch's longest caption."""
    length = int((tokens != 0).sum(dim=1).max().clamp(min=1))
    return tokens[:, :length]  # (B, L') with L' <= L


@TEXT_TOWERS.register("small_transformer")
def small_transformer(spec: TextTowerSpec) -> nn.Module:
    return CausalTextTower(
        TextTransformer(
            context_length=spec.context_length,
            vocab_size=VOCAB_SIZE,
            width=spec.width,
            heads=spec.heads,
            layers=spec.layers,
            output_dim=spec.embed_dim,
        )
    )


@TEXT_TOWERS.register("open_clip")
def open_clip_text(spec: TextTowerSpec) -> nn.Module:
    if not spec.open_clip_name:
        raise MMCLError("model.text=open_clip needs model.open_clip_name (e.g. ViT-B-32)")
    import open_clip

    model = open_clip.create_model(spec.open_clip_name, pretrained=None)
    if not all(hasattr(model, part) for part in ("token_embedding", "text_projection")):
        tower = type(getattr(model, "text", model)).__name__
        raise MMCLError(unbuildable_tower(spec.open_clip_name, "text", tower))
    return CausalTextTower(model)
