"""Caption edits that take named details out of real captions (Xue et al. 2024, claim C6).

The paper trains CLIP on MSCOCO / Conceptual Captions with the original captions and with less
informative text, down to the class label alone, and compares robustness. On real captions a
"detail" is a word of a known kind: a colour, a count, a size, a material or texture, a spatial
relation. `remove_details` deletes the words of the chosen kinds; `label_caption` keeps only the
class the caption names (the first class name found, longest names first), as the paper's
"label" series does. The word lists are ours, small and explicit, so an edit can be audited.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from mmcl.errors import MMCLError


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DETAIL_WORDS: dict[str, frozenset[str]] = {
    "colour": _words(
        "red orange yellow green blue purple pink brown black white gray grey silver gold "
        "golden beige tan maroon navy teal violet colorful colourful dark light bright"
    ),
    "count": _words(
        "one two three four five six seven eight nine ten eleven twelve several many few "
        "multiple couple pair dozen single lone group bunch"
    ),
    "size": _words("big large huge giant small little tiny tall short long wide"),
    "material": _words(
        "wooden metal metallic plastic glass stone brick leather furry fluffy striped spotted "
        "checkered plaid shiny rusty concrete marble"
    ),
    "position": _words(
        "left right top bottom front behind beside near next under above below inside "
        "outside between background foreground middle center corner"
    ),
}
DETAIL_KINDS = tuple(DETAIL_WORDS)
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|[^\sA-Za-z]+")


@dataclass(frozen=True)
class CaptionEdit:
    """One edit of a caption set: `full` (unchanged), `no_details` (drop `kinds`), `label`."""

    mode: str = "full"  # full | no_details | label
    kinds: tuple[str, ...] = DETAIL_KINDS  # detail kinds removed by no_details

    def __post_init__(self) -> None:
        if self.mode not in ("full", "no_details", "label"):
            raise MMCLError(
                f"caption edit mode {self.mode!r}: choose one of full, no_details, label"
            )
        unknown = sorted(set(self.kinds) - set(DETAIL_KINDS))
        if unknown:
            raise MMCLError(
                f"caption edit kinds {unknown} are unknown: choose from {', '.join(DETAIL_KINDS)}"
            )


def remove_details(caption: str, kinds: Iterable[str] = DETAIL_KINDS) -> str:
    """The caption without the words of the given detail kinds (case-insensitive)."""
    banned = frozenset().union(*(DETAIL_WORDS[k] for k in kinds))
    kept = [w for w in _WORD.findall(caption) if w.lower() not in banned]
    text = " ".join(kept)
    return re.sub(r"\s+([.,;:!?])", r"\1", text).strip()


def _class_patterns(class_names: Sequence[str]) -> list[tuple[re.Pattern, str]]:
    """Whole-word, plural-tolerant patterns, longest names first ("hot dog" before "dog")."""
    names = sorted(set(class_names), key=len, reverse=True)
    return [(re.compile(rf"\b{re.escape(n.lower())}(?:s|es)?\b"), n) for n in names]


def label_caption(caption: str, class_names: Sequence[str]) -> str | None:
    """'a photo of a {class}' for the first class name the caption mentions; None if none."""
    lowered = caption.lower()
    hits = []
    for pattern, name in _class_patterns(class_names):
        match = pattern.search(lowered)
        if match:
            hits.append((match.start(), -len(name), name))
    if not hits:
        return None
    return f"a photo of a {min(hits)[2]}."


def edit_captions(
    captions: Sequence[str], edit: CaptionEdit, class_names: Sequence[str] = ()
) -> list[str]:
    """Edited captions; under `label`, captions that name no class are dropped."""
    if edit.mode == "full":
        return list(captions)
    if edit.mode == "no_details":
        return [remove_details(c, edit.kinds) for c in captions]
    if not class_names:
        raise MMCLError("caption edit 'label' needs class names (e.g. COCO's categories)")
    labelled = (label_caption(c, class_names) for c in captions)
    return [c for c in labelled if c is not None]


def coco_categories() -> list[str]:
    """The 80 COCO object categories (the class names of `label` edits on COCO captions)."""
    table = resources.files("mmcl.data") / "tables" / "coco_categories.csv"
    with resources.as_file(table) as path, open(path, encoding="utf-8") as f:
        return [row["name"] for row in csv.DictReader(f)]
