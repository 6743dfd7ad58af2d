"""Text tokenization on open_clip's BPE vocabulary (shipped inside the open-clip-torch wheel),
or, for a whole open_clip model, that model's own tokenizer."""

from __future__ import annotations

from typing import Any

import torch
from open_clip.tokenizer import SimpleTokenizer

from mmcl.errors import MMCLError

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


class OpenCLIPTokenizer:
    """The tokenizer open_clip pairs with an architecture (its BPE, SigLIP's, MobileCLIP's...),
    at the model's own context length. Tokenizers that live on a hub must already be in the
    local Hugging Face cache: mmcl never downloads."""

    def __init__(self, name: str) -> None:
        import open_clip

        try:
            self._tokenize = open_clip.get_tokenizer(name)
        except Exception as err:  # a hub tokenizer not cached here, or a missing package
            raise MMCLError(
                f"model.open_clip_name={name!r}: its tokenizer cannot be loaded offline "
                f"({str(err).splitlines()[0]}); put it in the Hugging Face cache first "
                "(HF_HUB_OFFLINE=1 reads only the cache)"
            ) from None
        self.name = name
        self.context_length = int(getattr(self._tokenize, "context_length", 77))

    def __call__(self, texts: list[str] | str) -> torch.Tensor:
        return self._tokenize([texts] if isinstance(texts, str) else list(texts))


def tokenizer_for(model_cfg: Any) -> Tokenizer | OpenCLIPTokenizer:
    """The tokenizer a model config calls for (a `ModelConfig`)."""
    if model_cfg.whole_open_clip:
        return OpenCLIPTokenizer(model_cfg.open_clip_name)
    return Tokenizer(model_cfg.context_length)
