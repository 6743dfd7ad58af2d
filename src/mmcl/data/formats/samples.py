"""One rule for whether a sample can be used, shared by `mmcl data check` and every dataset
that trains or evaluates on files, so that check's verdict is training's.

A sample comes from its reader as a `Record` (CSV, COCO, ImageFolder, ImageNet-Captions) or a
shard's `RawSample`. It is usable when its row parsed, every caption is valid UTF-8, its class is
a class index and its image decodes (EXIF orientation applied). Cheap checks run first, so a bad
row costs no image decode. Whether a sample without a caption is bad depends on who reads it: a
text method needs one, and `Judged.caption` raises the reason (naming what was looked for);
`data check` asks the same of every sample once the data holds any caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from mmcl.data.formats.bad_data import BadSample
from mmcl.data.formats.images import open_upright
from mmcl.data.formats.records import Record
from mmcl.data.formats.webdataset_shards import RawSample

EMPTY_CAPTION = "empty caption"


@dataclass(frozen=True)
class Judged:
    """A usable sample: its upright RGB image, its non-empty captions and its class."""

    image: Image.Image
    captions: tuple[str, ...]
    label: int  # -1 when unlabelled
    turned: bool  # the file carried an EXIF rotation or flip (applied to `image`)
    no_caption: str  # why there is no caption to train on ("" when there is one)

    def caption(self, key: int) -> str:
        """One caption picked by `key` (training draws one per epoch); `BadSample` if none."""
        if not self.captions:
            raise BadSample(self.no_caption)
        return self.captions[key % len(self.captions)]


def usable_captions(captions: Sequence[str]) -> tuple[str, ...]:
    """The non-empty captions; `BadSample` when any holds bytes that were not UTF-8 (kept as
    surrogates by a reader), whichever a later epoch would have drawn."""
    for caption in captions:
        try:
            caption.encode("utf-8")
        except UnicodeEncodeError:
            raise BadSample("caption is not valid UTF-8") from None
    return tuple(c for c in captions if c.strip())


def record_captions(record: Record) -> tuple[str, ...]:
    """The cheap half of `judge_record`: the row parsed and its captions are valid; returns
    the non-empty ones."""
    if record.error:
        raise BadSample(record.error)
    return usable_captions(record.captions)


def judge_record(record: Record) -> Judged:
    """A reader's record judged; raises `BadSample` naming why it cannot be used."""
    captions = record_captions(record)
    image, turned = open_upright(record.image)
    no_caption = "" if captions else (EMPTY_CAPTION if record.captions else "no caption")
    return Judged(image, captions, record.label, turned, no_caption)


def judge_shard_sample(sample: RawSample) -> Judged:
    """A shard's sample judged; raises `BadSample` naming why it cannot be used."""
    found = sample.captions()
    captions = usable_captions(found)
    label = sample.label()
    image, turned = open_upright(sample.image_bytes())
    no_caption = "" if captions else (EMPTY_CAPTION if found else sample.no_caption())
    return Judged(image, captions, label, turned, no_caption)
