"""What a map-style reader produces: one `Record` per image, gathered in a `RecordSet`.

Readers (CSV, COCO captions, ImageFolder, ImageNet-Captions) only parse their index files and
check the schema; images are opened later, by the dataset, so that a corrupt file costs one
skipped sample rather than a failed start. `source` says where a record came from (file and
line, or JSON key) so that every error and every skipped sample can name it. A row the reader
cannot parse (a CSV row with a field too many) is kept as a `Record` with `error` set, so that it
counts as one bad sample, named by its line, instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
