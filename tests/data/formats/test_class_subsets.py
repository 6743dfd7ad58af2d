"""The class tables: sizes, agreement with timm's copies, and relabelling of subset folders."""

from __future__ import annotations

from importlib import resources

import pytest
from PIL import Image

from mmcl.data.formats.class_subsets import class_subset, imagenet_wnids
from mmcl.data.formats.imagefolder import ImageFolderOptions
from mmcl.data.formats.readers import read_records

TIMM_INFO = "timm.data._info"


def _timm_lines(name: str) -> list[str]:
    return resources.files(TIMM_INFO).joinpath(name).read_text().split()


@pytest.mark.parametrize("name, timm", [("imagenet_r", "imagenet_r"), ("imagenet_a", "imagenet_a")])
def test_200_class_subsets_match_timm(name, timm):
    subset = class_subset(name)
    assert len(subset.groups) == 200
    assert list(subset.keys) == _timm_lines(f"{timm}_synsets.txt")
    assert subset.imagenet_indices == sorted(int(i) for i in _timm_lines(f"{timm}_indices.txt"))


def test_objectnet_has_113_classes_over_125_imagenet_classes():
    subset = class_subset("objectnet")
    assert len(subset.groups) == 113 and len(subset.imagenet_indices) == 125
    assert imagenet_wnids() == _timm_lines("imagenet_synsets.txt")


def test_imagefolder_subset_keeps_and_relabels_only_shared_classes(tmp_path):
    wnids = imagenet_wnids()
    r_keys = class_subset("imagenet_r").keys
    outside = next(w for w in wnids if w not in r_keys)
    for wnid in (r_keys[5], r_keys[0], outside):
        (tmp_path / wnid).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / wnid / "a.png")
    records = read_records("imagefolder", tmp_path, ImageFolderOptions(class_subset="imagenet_r"))
    assert len(records.class_names) == 200
    assert sorted(r.label for r in records.records) == [0, 5]  # the outside class is dropped
    assert records.records[0].captions[0] == f"a photo of a {records.class_names[0]}."
