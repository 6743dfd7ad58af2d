from __future__ import annotations

import pytest

from mmcl.data.caption_edits import (
    DETAIL_WORDS,
    CaptionEdit,
    coco_categories,
    edit_captions,
    label_caption,
    remove_details,
)
from mmcl.errors import MMCLError


def test_remove_details_drops_only_the_chosen_kinds():
    caption = "Two red buses parked on the left of a tall building."
    assert remove_details(caption, ["colour"]) == "Two buses parked on the left of a tall building."
    everything = remove_details(caption)
    words = {w.strip(".").lower() for w in everything.split()}
    for kind_words in DETAIL_WORDS.values():
        assert not words & kind_words
    assert {"buses", "parked", "building"} <= words
    assert everything.endswith("building.")


def test_label_caption_prefers_the_first_and_longest_class_name():
    names = ["dog", "hot dog", "person", "bus"]
    assert label_caption("A person eating a hot dog.", names) == "a photo of a person."
    assert label_caption("Hot dogs on a grill", names) == "a photo of a hot dog."
    assert label_caption("Two buses in the rain", names) == "a photo of a bus."
    assert label_caption("A sunset over the sea", names) is None


def test_edit_captions_label_mode_drops_captions_without_a_class():
    captions = ["A cat on a red couch", "A view of the ocean"]
    edited = edit_captions(captions, CaptionEdit("label"), coco_categories())
    assert edited == ["a photo of a cat."]
    assert edit_captions(captions, CaptionEdit("full")) == captions


def test_bad_edits_name_the_setting():
    with pytest.raises(MMCLError, match="mode"):
        CaptionEdit("shorter")
    with pytest.raises(MMCLError, match="smell"):
        CaptionEdit("no_details", ("smell",))
    with pytest.raises(MMCLError, match="class names"):
        edit_captions(["a cat"], CaptionEdit("label"))


def test_coco_categories_are_the_80_classes():
    names = coco_categories()
    assert len(names) == len(set(names)) == 80
    assert {"person", "toothbrush", "hot dog"} <= set(names)
