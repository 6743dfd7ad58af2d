"""The texts a generated world can ever feed a text tower, for its compact token table.

A world registers a function returning texts that together contain every word its captions,
zero-shot prompts and pair statements can hold (not every sentence: a tokenizer's ids for a text
are those of its words, so covering each word once covers every combination). A world without an
entry, and every file dataset, keeps the full token table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch

from mmcl.data.worlds.captions import CAPTION_ATTRIBUTES, PROMPT_TEMPLATES, caption
from mmcl.data.worlds.shapes import ATTRIBUTE_VALUES
from mmcl.registry import Registry

VOCABULARIES: Registry[Callable[[], list[str]]] = Registry("world vocabulary")
COVER_CONTEXT = 128  # tokenizer context for the cover texts: long enough that none is cut
# Templates mmcl's eval and experiments fill with a class name besides the world's own
# (Fang et al.'s one-prompt zero-shot, MMVP statements' "a photo of " prefix).
EXTRA_TEMPLATES = ("a photo of a {}.", "a photo of {}")


@VOCABULARIES.register("shapes")
def shapes_texts() -> list[str]:
    """One caption naming every attribute per attribute value (photo and sketch), and every
    prompt template filled with every value (the class can be any attribute: `shapes.label`)."""
    first = {name: values[0] for name, values in ATTRIBUTE_VALUES.items()}
    everything = set(CAPTION_ATTRIBUTES)
    texts = []
    for name, values in ATTRIBUTE_VALUES.items():
        for value in values:
            texts.append(caption({**first, name: value}, everything))
            texts.extend(t.format(value) for t in (*PROMPT_TEMPLATES, *EXTRA_TEMPLATES))
    return texts


def vocabulary_ids(world: str, tokenizer: Callable[[list[str]], torch.Tensor]) -> torch.Tensor:
    """(K,) sorted ids `tokenizer` gives the texts of `world`, padding and end tokens included."""
    tokens = tokenizer(["", *VOCABULARIES.get(world)()])  # (N, L)
    return torch.unique(tokens.flatten())


@cache
def bpe_vocabulary_ids(world: str) -> torch.Tensor:
    """`vocabulary_ids` with mmcl's BPE tokenizer (the same ids at any context length)."""
    from mmcl.models.tokenizer import Tokenizer

    return vocabulary_ids(world, Tokenizer(COVER_CONTEXT))
