"""Each reader gives back exactly the world `mmcl data make` wrote: images, captions, classes."""

from __future__ import annotations

import csv

import torch

from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.csv_captions import CsvOptions
from mmcl.data.formats.images import decode_image
from mmcl.data.formats.readers import read_records
from mmcl.data.formats.webdataset_shards import expand_braces, index_shards, shard_paths
from mmcl.data.record_dataset import class_balanced_indices, records_to_split
from mmcl.data.stream_dataset import first_samples


def _decoded(records) -> torch.Tensor:
    return torch.stack([decode_image(r.image, 32) for r in records.records])


def _by_name(records) -> list[str]:
    return [records.class_names[r.label] for r in records.records]


def test_csv_round_trip(written, world):
    split = world["train"]
    records = read_records("csv", written / "csv" / "train.csv", CsvOptions(label_key="label"))
    assert torch.equal(_decoded(records), split.images)
    assert [r.captions for r in records.records] == [(c,) for c in split.captions]
    assert _by_name(records) == [split.class_names[y] for y in split.labels]
    assert records.records[0].source == "train.csv:2"  # line 1 is the header


def test_tsv_with_other_column_names(tmp_path, written, world):
    with (written / "csv" / "train.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    tsv = tmp_path / "t.tsv"
    with tsv.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["caption", "img"])
        writer.writerows([row["title"], row["filepath"]] for row in rows)
    (tmp_path / "train").symlink_to(written / "csv" / "train")
    options = CsvOptions(img_key="img", caption_key="caption", separator="\t")
    records = read_records("csv", tsv, options)
    assert torch.equal(_decoded(records), world["train"].images)
    assert [r.captions[0] for r in records.records] == world["train"].captions


def test_coco_round_trip_keeps_every_caption(written, world):
    records = read_records("coco", written / "coco" / "annotations" / "captions_id.json")
    assert torch.equal(_decoded(records), world["id"].images)
    assert [r.captions for r in records.records] == [(c,) for c in world["id"].captions]


def test_imagefolder_round_trip(written, world):
    split = world["id"]
    records = read_records("imagefolder", written / "imagefolder" / "id")
    assert records.class_names == sorted(split.class_names)
    order = sorted(range(len(split)), key=lambda i: (split.class_names[split.labels[i]], i))
    assert torch.equal(_decoded(records), split.images[order])
    assert records.records[0].captions == (f"a photo of a {records.class_names[0]}.",)


def test_webdataset_round_trip(written, world):
    pattern = str(written / "webdataset" / "train-{000000..000003}.tar")
    shards = index_shards(shard_paths(pattern))
    assert [s.n_samples for s in shards] == [8, 8, 8, 8]
    images, captions, labels = first_samples(shards, 32, None, BadDataLog(0.0))
    assert torch.equal(torch.stack(images), world["train"].images)
    assert captions == world["train"].captions
    assert labels == world["train"].labels.tolist()


def test_brace_expansion_matches_the_braceexpand_package():
    from braceexpand import braceexpand  # webdataset's own dependency, as the reference

    for pattern in ["s-{000..011}.tar", "{a,b}-{1..3}.tar", "x.tar", "d/{train,val}-{08..10}.tar"]:
        assert expand_braces(pattern) == list(braceexpand(pattern))


def test_a_limited_split_of_a_class_sorted_folder_holds_every_class(written):
    """The linear probe's training subset: ImageFolder lists class by class, so the first N
    would hold only the first classes."""
    records = read_records("imagefolder", written / "imagefolder" / "id")
    labels = [r.label for r in records.records]
    assert labels == sorted(labels)  # the folder's own order: class by class
    n_classes = len(set(labels))
    limit = 2 * n_classes
    split = records_to_split(records, 32, "probe", ["a {}."], BadDataLog(0.0), limit)
    assert len(split) == limit and set(split.labels.tolist()) == set(labels)
    available = {y: labels.count(y) for y in set(labels)}
    taken = {y: split.labels.tolist().count(y) for y in set(labels)}
    assert all(taken[y] >= min(2, available[y]) for y in available)  # each class its share
    again = records_to_split(records, 32, "probe", ["a {}."], BadDataLog(0.0), limit)
    assert torch.equal(again.images, split.images)  # seeded: the same subset every time
    assert 3 in class_balanced_indices([0, 0, 0, 1], 2)  # the rare class is never crowded out
    assert class_balanced_indices([5, 5], None) == [0, 1]
