"""Bad samples are counted, named and skipped with fixed batch shapes; schema errors fail early."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest
import torch

from mmcl.config import load_config
from mmcl.data.formats.bad_data import BadDataLog, BadEvent, combined_state
from mmcl.data.formats.csv_captions import CsvOptions
from mmcl.data.formats.imagefolder import ImageFolderOptions
from mmcl.data.formats.readers import read_records
from mmcl.data.formats.webdataset_shards import index_shards
from mmcl.data.record_dataset import BatchEncoder, RecordDataset
from mmcl.data.stream_dataset import ShardStream
from mmcl.errors import MMCLError
from mmcl.models.tokenizer import Tokenizer
from mmcl.train.config import RunConfig
from mmcl.train.distributed import Runtime
from mmcl.train.trainer import Trainer


def _csv_copy(tmp_path, written, edit) -> tuple:
    """The written train CSV with `edit(lines)` applied (images linked, not copied)."""
    lines = (written / "csv" / "train.csv").read_text().splitlines()
    (tmp_path / "train").symlink_to(written / "csv" / "train")
    path = tmp_path / "edited.csv"
    path.write_bytes(b"\n".join(edit([line.encode() for line in lines])) + b"\n")
    return path, read_records("csv", path)


def _all_batches(dataset, batch=8):
    bad: list[BadEvent] = []
    for start in range(0, len(dataset), batch):
        loaded = dataset.__getitems__(list(range(start, start + batch)))
        assert loaded.batch.images.shape == (batch, 3, 32, 32)  # shapes stay fixed
        assert loaded.batch.texts.shape[0] == batch
        bad += loaded.bad
    return bad


def _clip_dataset(records):
    return RecordDataset(records, BatchEncoder(32, Tokenizer(16)), seed=0)


@pytest.mark.parametrize(
    "case, edit, reason",
    [
        ("corrupt", lambda ls: ls[:3] + [ls[3].replace(b"train/000002.png", b"bad.png")] + ls[4:],
         "cannot be decoded"),
        ("missing", lambda ls: ls[:3] + [ls[3].replace(b"000002.png", b"gone.png")] + ls[4:],
         "missing"),
        ("empty caption", lambda ls: ls[:3] + [b"train/000002.png,,circle"] + ls[4:],
         "empty caption"),
        ("non-utf8", lambda ls: ls[:3] + [b"train/000002.png,caf\xe9 \xff,circle"] + ls[4:],
         "not valid UTF-8"),
    ],
)  # fmt: skip
def test_bad_csv_sample_is_named_and_replaced(tmp_path, written, case, edit, reason):
    (tmp_path / "bad.png").write_bytes(b"<html>not an image</html>")
    path, records = _csv_copy(tmp_path, written, edit)
    dataset = _clip_dataset(records)
    bad = _all_batches(dataset)
    assert [(e.source, reason in e.reason) for e in bad] == [("edited.csv:4", True)]
    replaced = dataset.__getitems__([2])
    assert replaced.batch.index.tolist() != [2]  # another sample stands in, deterministically
    assert torch.equal(replaced.batch.images, dataset.__getitems__([2]).batch.images)


def test_too_many_bad_samples_stop_the_run_naming_the_worst(tmp_path, written):
    def edit(lines):
        return [lines[0]] + [lines[1].replace(b"000000.png", b"gone.png")] * 3 + lines[2:]

    _, records = _csv_copy(tmp_path, written, edit)
    dataset = _clip_dataset(records)
    log = BadDataLog(max_fraction=0.05, known_size=len(dataset))  # 0.05 * 34 allows one
    loaded = dataset.__getitems__([0, 1, 2, 3])
    with pytest.raises(MMCLError, match=r"edited.csv:2 \(image file is missing\)"):
        log.record(len(loaded.batch), loaded.bad)


def test_resumed_run_keeps_counting_bad_samples(tmp_path, written):
    """The tally is in the checkpoint: a resume continues toward the same limit, not from 0."""

    def edit(lines):  # 2 of the 32 rows name a missing image
        gone = [lines[1].replace(b"000000.png", b"gone.png"), lines[2].replace(b"1.png", b"x.png")]
        return [lines[0], *gone, *lines[3:]]

    path, _ = _csv_copy(tmp_path, written, edit)
    cfg = load_config(
        RunConfig,
        None,
        [
            "method.name=clip", "data.format=csv", f"data.path={path}",
            "data.max_bad_fraction=0.5", "model.width=4", "model.text_width=32",
            "model.text_layers=1", "model.text_heads=2", "model.embed_dim=16",
            "train.batch_size=8", "train.steps=8", "train.warmup_steps=1",
            "train.checkpoint_every=4", "train.progress=false",
        ],
    )  # fmt: skip
    runtime = Runtime(torch.device("cpu"))
    whole = Trainer(cfg, tmp_path / "whole", runtime)
    whole.fit()
    assert (whole.bad_data.seen, whole.bad_data.bad) == (68, 4)  # 2 epochs: 64 delivered + 4 bad
    folder = tmp_path / "resumed" / "checkpoints"
    folder.mkdir(parents=True)
    shutil.copy(tmp_path / "whole" / "checkpoints" / "step_0000004.pt", folder)
    (folder / "latest").write_text("step_0000004.pt\n")  # as if killed after step 4
    resumed = Trainer(cfg, tmp_path / "resumed", runtime)
    assert resumed.resume()
    assert (resumed.bad_data.seen, resumed.bad_data.bad) == (34, 2)
    resumed.fit()
    assert resumed.bad_data.state_dict() == whole.bad_data.state_dict()


def test_rank_tallies_combine_into_one():
    logs = [BadDataLog(max_fraction=1.0) for _ in range(2)]
    logs[0].record(7, [BadEvent("a.csv:2", "missing")])
    logs[1].record(6, [BadEvent("a.csv:2", "missing"), BadEvent("b.csv:9", "empty caption")])
    merged = BadDataLog(max_fraction=1.0)
    merged.load_state_dict(combined_state([log.state_dict() for log in logs]))
    assert (merged.seen, merged.bad) == (16, 3)
    assert merged.by_source == {"a.csv:2": 2, "b.csv:9": 1}
    assert merged.reasons["b.csv:9"] == "empty caption"


def test_budget_allows_one_in_a_thousand_by_default():
    log = BadDataLog(max_fraction=0.001)
    log.record(7, [BadEvent("a.csv:9", "empty caption")])  # one early bad sample is tolerated
    log.record(7, [BadEvent("a.csv:9", "empty caption")])  # met again (next epoch): still one
    with pytest.raises(MMCLError, match="a.csv:9"):
        log.record(7, [BadEvent("a.csv:10", "empty caption")])


def _truncate(path, keep_fraction):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def test_truncated_shard_is_refused_naming_it_and_the_fix(tmp_path, written):
    for name in ("train-000000.tar", "train-000001.tar"):
        shutil.copy(written / "webdataset" / name, tmp_path / name)
    _truncate(tmp_path / "train-000001.tar", 0.5)
    paths = [str(tmp_path / "train-000000.tar"), str(tmp_path / "train-000001.tar")]
    with pytest.raises(MMCLError, match=r"train-000001.tar is truncated .*re-download") as error:
        index_shards(paths)
    assert "train-000000.tar" not in str(error.value) and "\n" not in str(error.value)


def test_bad_caption_in_a_shard_keeps_the_batch_full(tmp_path):
    path = tmp_path / "s-0.tar"
    png = tmp_path / "ok.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (255, 0, 0)).save(png)
    with tarfile.open(path, "w") as tar:
        for i, text in enumerate([b"a red square", b"\xff\xfe", b"", b"red"]):
            for ext, data in (("png", png.read_bytes()), ("txt", text)):
                info = tarfile.TarInfo(f"{i:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    stream = ShardStream(index_shards([str(path)]), BatchEncoder(32, Tokenizer(16)), 4, buffer=1)
    (loaded,) = list(stream)
    assert loaded.batch.texts.shape[0] == 4
    assert {e.source: e.reason for e in loaded.bad} == {
        "s-0.tar:0001": "caption is not valid UTF-8",
        "s-0.tar:0002": "empty caption",
    }


def test_csv_missing_column_fails_naming_file_and_key(written):
    options = CsvOptions(caption_key="caption")
    with pytest.raises(
        MMCLError, match=r"train.csv: missing column\(s\) 'caption'.*data.csv.caption_key"
    ):
        read_records("csv", written / "csv" / "train.csv", options)


def test_coco_json_missing_keys_fails_naming_file(tmp_path):
    path = tmp_path / "captions_x.json"
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(MMCLError, match=r"captions_x.json: missing key\(s\) \['annotations'\]"):
        read_records("coco", path)
    path.write_text(json.dumps({"images": [{"id": 1}], "annotations": []}))
    with pytest.raises(MMCLError, match=r"images\[0\] has no 'file_name'"):
        read_records("coco", path)


def test_imagefolder_without_images_fails(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("x")
    with pytest.raises(MMCLError, match="no images found in"):
        read_records("imagefolder", tmp_path)


def test_class_map_mismatch_fails(tmp_path, written):
    with pytest.raises(MMCLError, match="class-map mismatch.*imagenet_r expects ImageNet wnid"):
        read_records(
            "imagefolder",
            written / "imagefolder" / "id",
            ImageFolderOptions(class_subset="imagenet_r"),
        )
