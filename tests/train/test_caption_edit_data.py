"""data.caption_edit: Xue et al.'s caption ablation applied to records read from files."""

from __future__ import annotations

import pytest

from mmcl.config import load_config
from mmcl.data.config import DataConfig
from mmcl.data.formats.records import Record, RecordSet
from mmcl.data.sources import edited_records
from mmcl.errors import MMCLError

RECORDS = RecordSet(
    [
        Record("a.jpg", ("Two red buses on a street.", "A bus by the left kerb."), source="a"),
        Record("b.jpg", ("A sunset over the sea.",), source="b"),
    ],
    name="captions_train.json",
)


def _config(*overrides: str) -> DataConfig:
    return load_config(DataConfig, None, ["format=coco", "path=x.json", *overrides])


def test_label_edit_keeps_the_named_coco_class_and_drops_images_without_one():
    edited = edited_records(RECORDS, _config("caption_edit=label"))
    assert [r.image for r in edited.records] == ["a.jpg"]
    assert edited.records[0].captions == ("a photo of a bus.", "a photo of a bus.")


def test_no_details_edit_removes_only_the_chosen_kinds():
    edited = edited_records(
        RECORDS, _config("caption_edit=no_details", "caption_edit_kinds=[colour]")
    )
    assert edited.records[0].captions[0] == "Two buses on a street."
    assert edited.records[0].captions[1] == "A bus by the left kerb."
    assert len(edited) == len(RECORDS)


def test_label_edit_that_leaves_nothing_names_the_data():
    only_sea = RecordSet([RECORDS.records[1]], name="sea.json")
    with pytest.raises(MMCLError, match="sea.json"):
        edited_records(only_sea, _config("caption_edit=label"))


@pytest.mark.parametrize(
    "overrides, named",
    [
        (["caption_edit=shorter"], "data.caption_edit"),
        (["caption_edit=no_details", "caption_edit_kinds=[smell]"], "caption_edit_kinds"),
        (["format=world", "caption_edit=label"], "caption_preset"),
    ],
)
def test_bad_caption_edit_settings_name_the_key(overrides, named):
    with pytest.raises(MMCLError, match=named):
        _config(*overrides).validate()


def test_a_row_the_reader_could_not_parse_stays_a_bad_sample_after_the_edit():
    bad = Record("", source="t.csv:7", error="row has 4 fields, the header has 3")
    records = RecordSet([*RECORDS.records, bad], name="t.csv")
    edited = edited_records(records, _config("caption_edit=label"))
    assert [r.source for r in edited.records] == ["a", "t.csv:7"]
    assert edited.records[-1].error == bad.error
