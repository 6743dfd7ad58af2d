"""What a map-style reader produces: one `Record` per image, gathered in a `RecordSet`.

Readers (CSV, COCO captions, ImageFolder, ImageNet-Captions) only parse their index files and
check the schema; images are opened later, by the dataset, so that a corrupt file costs one
skipped sample rather than a failed start. `source` says where a record came from (file and
line, or JSON key) so that every error and every skipped sample can name it. A row the reader
cannot parse (a CSV row with a field too many) is kept as a `Record` with `error` set, so that it
counts as one bad sample, named by its line, instead of vanishing.

A `RecordSet` is one kind of training source (beside a world's `WorldSplit` and the shards of a
stream, `ShardSet`): each answers the same questions (`class_names`, `image_size_for`,
`first_bad`, `missing_captions`) and hands itself to the matching method of a visitor
(`visit`), so no caller tests which kind it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    image: str  # path of the image file
    captions: tuple[str, ...] = ()  # all captions of the image; training samples one per step
    label: int = -1  # class index into RecordSet.class_names; -1 when unlabelled
    source: str = ""  # e.g. "train.csv:17" or "captions_train2017.json:annotations[3]"
    error: str = ""  # why the reader could not use this row ("" = fine): a bad sample


@dataclass
class RecordSet:
    records: list[Record]
    class_names: list[str] = field(default_factory=list)
    name: str = ""  # what the user pointed at (a path), for messages and result records

    def __len__(self) -> int:
        return len(self.records)

    @property
    def description(self) -> str:
        return self.name

    def image_size_for(self, configured: int) -> int:
        """Images on disk are resized to `data.image_size`."""
        return configured

    def first_bad(self) -> str:
        """The first row its reader could not use, as " (file:line: why)": it may say why the
        data has no classes or captions at all (an empty class column, a file not in UTF-8)."""
        return next((f" ({r.source}: {r.error})" for r in self.records if r.error), "")

    def missing_captions(self) -> str:
        """Why a method that trains on captions cannot train on this ("" when it can)."""
        if any(r.captions for r in self.records):
            return ""
        return (
            f"{self.name} has none{self.first_bad()} (for ImageFolder set "
            "data.imagefolder.caption_template, e.g. 'a photo of a {}.')"
        )

    def visit(self, visitor: Any) -> Any:
        """`visitor.records(self)`: what the visitor makes of records (see the module doc)."""
        return visitor.records(self)
