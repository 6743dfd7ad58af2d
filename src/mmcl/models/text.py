"""Text towers on open_clip's BPE tokens: (B, L) token ids -> (B, D) embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from open_clip.transformer import TextTransformer
from torch import nn

from mmcl.errors import MMCLError
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


class SmallTextTransformer(nn.Module):
    """open_clip's causal TextTransformer at CPU size, pooled at the end-of-text token."""

    def __init__(self, spec: TextTowerSpec) -> None:
        super().__init__()
        self.transformer = TextTransformer(
            context_length=spec.context_length,
            vocab_size=VOCAB_SIZE,
            width=spec.width,
            heads=spec.heads,
            layers=spec.layers,
            output_dim=spec.embed_dim,
        )
        self.output_dim = spec.embed_dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.transformer(tokens)  # (B, D)


class OpenCLIPText(nn.Module):
    """The text tower of an open_clip architecture (random init)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        import open_clip

        model = open_clip.create_model(name, pretrained=None)
        self.parts = nn.ModuleDict(
            {
                "transformer": model.transformer,
                "token_embedding": model.token_embedding,
                "ln_final": model.ln_final,
            }
        )
        self.positional_embedding = model.positional_embedding
        self.text_projection = model.text_projection
        self.register_buffer("attn_mask", model.attn_mask, persistent=False)
        self.output_dim = model.text_projection.shape[1]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.parts["token_embedding"](tokens) + self.positional_embedding[: tokens.shape[1]]
        x = self.parts["transformer"](
            x, attn_mask=self.attn_mask[: tokens.shape[1], : tokens.shape[1]]
        )
        x = self.parts["ln_final"](x)
        pooled = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]  # end-of-text token
        return pooled @ self.text_projection


@TEXT_TOWERS.register("small_transformer")
def small_transformer(spec: TextTowerSpec) -> nn.Module:
    return SmallTextTransformer(spec)


@TEXT_TOWERS.register("open_clip")
def open_clip_text(spec: TextTowerSpec) -> nn.Module:
    if not spec.open_clip_name:
        raise MMCLError("model.text=open_clip needs model.open_clip_name (e.g. ViT-B-32)")
    return OpenCLIPText(spec.open_clip_name)
