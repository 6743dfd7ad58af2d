"""A compact token table: only the rows of the token ids a world's text can contain.

The CLIP text tower's table has a row per BPE id (49,408 x text width), ~98% of a CPU-size CLIP
model's parameters, while a generated world's captions and prompts use a few dozen ids. Every
step pays for the full table anyway: its dense gradient and its AdamW update. `CompactEmbedding`
keeps the rows of `kept_ids` (sorted) and maps full ids to them inside the model, so data,
tokenizers and checkpoints' token ids are unchanged.

Exactness: the table is cut from the full table after it was initialised (the same random draws,
so every later draw is unchanged), and each kept row receives the same gradient terms in the same
order, so losses equal the full table's bit for bit. An id outside `kept_ids` raises an MMCLError
naming the token: it never silently reads another token's row.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.errors import MMCLError

UNKNOWN_ROW = -1  # `row_of_id` entry of an id whose row was not kept


class CompactEmbedding(nn.Module):
    """`nn.Embedding` over full ids holding only the rows of `kept_ids`.

    State: `weight` (K, W) and `kept_ids` (K,), so checkpoints hold K rows, not the vocabulary.
    A state dict with the full (V, W) table (a full-table checkpoint of the same model) loads by
    taking its kept rows.
    """

    def __init__(
        self, full: nn.Embedding, kept_ids: torch.Tensor, source: str, bpe_words: bool
    ) -> None:
        """`source`: what the kept set stands for (the world), for error messages; `bpe_words`:
        ids are open_clip's BPE ids, so an unknown one can be named as its word."""
        super().__init__()
        kept = torch.unique(kept_ids.long().cpu())  # (K,) sorted, so rows keep the id order
        self.vocab_size = full.num_embeddings
        self.source, self.bpe_words = source, bpe_words
        self.weight = nn.Parameter(full.weight.detach()[kept.to(full.weight.device)].clone())
        self.register_buffer("kept_ids", kept.to(full.weight.device))
        rows = torch.full((self.vocab_size,), UNKNOWN_ROW, dtype=torch.long)
        rows[kept] = torch.arange(len(kept))
        self.register_buffer("row_of_id", rows.to(full.weight.device), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.row_of_id[ids]  # (B, L) compact rows, UNKNOWN_ROW where not kept
        if bool((rows == UNKNOWN_ROW).any()):
            raise MMCLError(self._unknown_message(ids[rows == UNKNOWN_ROW]))
        return F.embedding(rows, self.weight)  # (B, L, W)

    def full_weight(self) -> torch.Tensor:
        """The (V, W) table open_clip expects: kept rows at their ids, zeros elsewhere (the rows
        of tokens this model never read: it was built without them, so no value is theirs)."""
        full = self.weight.new_zeros(self.vocab_size, self.weight.shape[1])  # (V, W)
        full[self.kept_ids] = self.weight.detach()
        return full

    def _unknown_message(self, unknown: torch.Tensor) -> str:
        token_id = int(unknown[0])
        word = f"{bpe_word(token_id)!r} (id {token_id})" if self.bpe_words else f"id {token_id}"
        return (
            f"token {word} is not in this model's compact vocabulary ({len(self.kept_ids)} "
            f"tokens, model.vocab={self.source}: the words its captions and prompts "
            "use); give it that world's text, or train with model.vocab=full"
        )

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        weight = state_dict.get(f"{prefix}weight")
        ids_key = f"{prefix}kept_ids"
        if weight is not None and ids_key not in state_dict and len(weight) == self.vocab_size:
            state_dict[f"{prefix}weight"] = weight[self.kept_ids.to(weight.device)]  # full table
            state_dict[ids_key] = self.kept_ids
        ids = state_dict.get(ids_key)
        if ids is not None and not torch.equal(ids.cpu(), self.kept_ids.cpu()):
            raise MMCLError(
                f"the checkpoint's compact vocabulary ({len(ids)} tokens) is not this model's "
                f"({len(self.kept_ids)}, model.vocab={self.source}): build it with the "
                "config it was trained with"
            )
        super()._load_from_state_dict(state_dict, prefix, *args)


@cache
def bpe_word(token_id: int) -> str:
    """The text of open_clip BPE token `token_id` (for error messages only)."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer().decoder.get(token_id, "?").replace("</w>", "")


def compact_table(owner: nn.Module, kept_ids: torch.Tensor, source: str, bpe_words: bool) -> None:
    """Replace `owner.token_embedding` (an `nn.Embedding`) by its compact rows, in place (the
    module keeps its place, so parameter order, and with it the optimizer's, is unchanged)."""
    owner.token_embedding = CompactEmbedding(owner.token_embedding, kept_ids, source, bpe_words)


def full_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` (module's state dict) with every compact table scattered into a full-size one and
    its `kept_ids` dropped: the layout of the same model built with the full vocabulary."""
    state = dict(state)
    for name, sub in module.named_modules():
        if isinstance(sub, CompactEmbedding):
            prefix = f"{name}." if name else ""
            del state[f"{prefix}kept_ids"]
            state[f"{prefix}weight"] = sub.full_weight()
    return state
