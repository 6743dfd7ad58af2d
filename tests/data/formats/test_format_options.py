"""Each format owns its options (`data.<format>.*`, issue 29): the old flat keys stop with the
new key named, a config holds the sections of the formats it reads, and the source kinds answer
what their callers ask instead of being told apart by type."""

from __future__ import annotations

import pytest

from mmcl.config import config_hash, load_config, to_dict
from mmcl.data.config import DataConfig
from mmcl.data.formats.csv_captions import CsvOptions
from mmcl.data.formats.imagefolder import ImageFolderOptions
from mmcl.data.formats.webdataset_shards import ShardSet, WebdatasetOptions
from mmcl.data.sources import load_train_source
from mmcl.errors import MMCLError
from mmcl.train.config import RunConfig

MOVED = {  # old key: (new key, a value it takes)
    "csv_img_key": ("csv.img_key", "img"),
    "csv_caption_key": ("csv.caption_key", "text"),
    "csv_label_key": ("csv.label_key", "label"),
    "csv_separator": ("csv.separator", "tab"),
    "coco_images": ("coco.images", "/data/coco/train2017"),
    "caption_template": ("imagefolder.caption_template", "a drawing of a {}."),
    "class_subset": ("imagefolder.class_subset", "imagenet_r"),
    "imagenet_root": ("imagenet_captions.imagenet_root", "/data/imagenet"),
    "captions_text": ("imagenet_captions.captions_text", "title,tags"),
    "caption_class_filter": ("imagenet_captions.caption_class_filter", "true"),
    "shuffle_buffer": ("webdataset.shuffle_buffer", "5"),
    "shard_samples": ("webdataset.shard_samples", "100"),
}


@pytest.mark.parametrize("old, new, value", [(old, *new) for old, new in MOVED.items()])
def test_an_old_key_names_its_new_key_in_an_override(old, new, value):
    with pytest.raises(MMCLError) as error:
        load_config(RunConfig, None, [f"data.{old}={value}"])
    assert str(error.value) == f"config key 'data.{old}' is now 'data.{new}'"
    cfg = load_config(RunConfig, None, [f"data.{new}={value}"])
    fmt, name = new.split(".")
    assert str(getattr(cfg.data.options(fmt), name)).lower() == value.replace("tab", "\t")


def test_an_old_key_names_its_new_key_in_a_yaml(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text("data:\n  format: csv\n  path: t.csv\n  csv_label_key: label\n")
    with pytest.raises(MMCLError, match=r"^config key 'data.csv_label_key' is now "):
        load_config(RunConfig, config)
    config.write_text("data:\n  format: csv\n  path: t.csv\n  csv:\n    label_key: label\n")
    assert load_config(RunConfig, config).data.csv.label_key == "label"


def test_a_config_holds_the_sections_of_the_formats_it_reads():
    world = load_config(DataConfig, None, [])
    assert world.formats == {}  # a world run writes no format's options
    assert "csv" not in to_dict(world) and "csv_img_key" not in to_dict(world)
    csv = load_config(DataConfig, None, ["format=csv", "path=t.csv", "val_format=imagefolder"])
    assert set(csv.formats) == {"csv", "imagefolder"}
    assert to_dict(csv)["csv"] == {
        "img_key": "filepath",
        "caption_key": "title",
        "label_key": "",
        "separator": ",",
    }
    given = load_config(DataConfig, None, ["webdataset.shuffle_buffer=5"])
    assert given.formats == {"webdataset": WebdatasetOptions(shuffle_buffer=5)}
    # a section not held reads as its defaults; the hash does not change for reading it
    assert world.coco.images == "" and world.formats == {}
    assert config_hash(world) == config_hash(load_config(DataConfig, None, []))


def test_each_section_checks_its_own_values():
    with pytest.raises(MMCLError, match=r"'data.csv.separator' = ';;' must be one character"):
        load_config(RunConfig, None, ["data.csv.separator=;;"])
    with pytest.raises(MMCLError, match=r"'data.imagefolder.class_subset' = 'imagenet_x'"):
        load_config(RunConfig, None, ["data.imagefolder.class_subset=imagenet_x"])
    with pytest.raises(MMCLError, match=r"'data.imagefolder.caption_template' = 'x'"):
        load_config(RunConfig, None, ["data.imagefolder.caption_template=x"])
    with pytest.raises(MMCLError, match=r"'data.webdataset.shuffle_buffer' = 0 is out of range"):
        load_config(RunConfig, None, ["data.webdataset.shuffle_buffer=0"])
    with pytest.raises(MMCLError, match=r"'data.csv.img_ky'; did you mean 'data.csv.img_key'"):
        load_config(RunConfig, None, ["data.csv.img_ky=x"])
    assert load_config(RunConfig, None, ["data.csv.separator=tab"]).data.csv.separator == "\t"


def test_with_options_changes_one_format_and_leaves_the_config_as_it_was():
    cfg = load_config(DataConfig, None, ["format=imagefolder", "path=x"])
    shifted = cfg.with_options("imagefolder", class_subset="imagenet_r")
    assert shifted.imagefolder == ImageFolderOptions(class_subset="imagenet_r")
    assert cfg.imagefolder == ImageFolderOptions()
    assert cfg.options("csv") == CsvOptions() and cfg.options("world") is None


def test_the_source_kinds_answer_the_same_questions(written, world):
    records = load_train_source(
        load_config(
            DataConfig,
            None,
            ["format=csv", f"path={written / 'csv' / 'train.csv'}", "csv.label_key=label"],
        )
    )
    shards = load_train_source(
        load_config(
            DataConfig,
            None,
            [
                "format=webdataset",
                f"path={written / 'webdataset' / 'train-{000000..000003}.tar'}",
                "webdataset.shuffle_buffer=7",
            ],
        )
    )
    split = world["train"]
    assert isinstance(shards, ShardSet) and shards.options.shuffle_buffer == 7
    assert records.class_names == sorted(set(split.class_names)) and shards.class_names == []
    assert (records.image_size_for(48), shards.image_size_for(48)) == (48, 48)
    assert split.image_size_for(48) == split.image_size
    assert [s.missing_captions() for s in (records, shards, split)] == ["", "", ""]
    assert [s.first_bad() for s in (records, shards, split)] == ["", "", ""]

    class Kind:
        def world(self, source):
            return "world"

        def records(self, source):
            return "records"

        def shards(self, source):
            return "shards"

    assert [s.visit(Kind()) for s in (split, records, shards)] == ["world", "records", "shards"]
