"""Text tokenization on open_clip's BPE vocabulary (shipped inside the open-clip-torch wheel)."""

from __future__ import annotations

import torch
from open_clip.tokenizer import SimpleTokenizer

VOCAB_SIZE = 49408  # open_clip's BPE vocabulary, incl. start/end tokens


class Tokenizer:
    """Callable: list of captions -> (N, context_length) token ids, truncated with an end token."""

    def __init__(self, context_length: int = 32) -> None:
        self.context_length = context_length
        self._bpe = SimpleTokenizer(context_length=context_length)

    def __call__(self, texts: list[str] | str) -> torch.Tensor:
        """Each distinct caption is encoded once: world captions repeat (10 in a label world)."""
        if isinstance(texts, str):
            texts = [texts]
        index: dict[str, int] = {}
        positions = [index.setdefault(text, len(index)) for text in texts]
        unique = self._bpe(list(index), context_length=self.context_length)
        return unique[torch.as_tensor(positions, dtype=torch.long)]
