"""`mmcl data check PATH` reads every sample once and names the bad ones; formats are inferred."""

from __future__ import annotations

import json
import shutil

import pytest

from mmcl.cli import main
from mmcl.config import load_config
from mmcl.data.config import DataConfig
from mmcl.data.formats.detect import infer_format
from mmcl.errors import MMCLError

from .conftest import N_TEST, N_TRAIN


def _bad_csv(tmp_path, written):
    """The written train CSV with a corrupt image (line 3), a missing one (4), no caption (5)."""
    lines = (written / "csv" / "train.csv").read_text().splitlines()
    (tmp_path / "train").symlink_to(written / "csv" / "train")
    (tmp_path / "broken.png").write_bytes(b"<html>not an image</html>")
    lines[2] = "broken.png,a broken image,circle"
    lines[3] = lines[3].replace(".png", "-gone.png", 1)
    lines[4] = lines[4].split(",")[0] + ",," + lines[4].split(",")[-1]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_check_names_every_bad_sample_and_fails_past_the_limit(tmp_path, written, capsys):
    path = _bad_csv(tmp_path, written)
    assert main(["data", "check", str(path)]) == 2  # no --format: inferred from .csv
    printed = capsys.readouterr()
    assert "bad.csv:3: image cannot be decoded" in printed.out
    assert "bad.csv:4: image file is missing" in printed.out
    assert "bad.csv:5: empty caption" in printed.out
    assert f"{N_TRAIN} samples, {N_TRAIN - 3} good, 3 bad" in printed.out
    assert "data.max_bad_fraction" in printed.err and "Traceback" not in printed.err


def test_check_passes_within_the_limit_and_reports_statistics(tmp_path, written, capsys):
    path = _bad_csv(tmp_path, written)
    overrides = ["max_bad_fraction=0.2", "csv.label_key=label"]
    assert main(["data", "check", str(path), "--workers", "2", *overrides]) == 0
    out = capsys.readouterr().out
    assert (
        "bad samples: image cannot be decoded x1, image file is missing x1, empty caption x1" in out
    )
    assert "classes: 10 of 10 have samples" in out
    assert (
        "width 32 to 32" in out and "words" in out and out.rstrip().endswith("max_bad_fraction=0.2")
    )


def test_check_reads_shards_coco_and_class_folders_without_format(written, capsys):
    shards = str(written / "webdataset" / "train-{000000..000003}.tar")
    for path, count in [
        (shards, N_TRAIN),
        (str(written / "coco" / "annotations" / "captions_id.json"), N_TEST),
        (str(written / "imagefolder" / "id"), N_TEST),
    ]:
        assert main(["data", "check", path]) == 0, path
        assert f"{count} samples, {count} good, 0 bad" in capsys.readouterr().out


def test_check_names_a_truncated_shard(tmp_path, written, capsys):
    for i in range(2):
        shutil.copy(written / "webdataset" / f"train-00000{i}.tar", tmp_path)
    last = tmp_path / "train-000001.tar"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    assert main(["data", "check", str(tmp_path), "max_bad_fraction=0.5"]) == 2  # as training
    err = capsys.readouterr().err
    assert "train-000001.tar is truncated" in err and "Traceback" not in err


def test_check_of_malformed_coco_is_one_line_naming_the_key(tmp_path, capsys):
    path = tmp_path / "captions_val.json"
    path.write_text(json.dumps({"images": [], "annotations": None}))
    assert main(["data", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'annotations' is null" in err and "Traceback" not in err


def test_inspect_infers_a_csv_path_instead_of_reading_it_as_a_world(tmp_path, written):
    out = tmp_path / "grid.png"
    path = written / "csv" / "train.csv"
    assert main(["data", "inspect", str(path), "--n", "4", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_format_is_inferred_from_the_path(tmp_path, written):
    (tmp_path / "t.tsv").write_text("filepath\ttitle\n")
    (tmp_path / "list.json").write_text("[]")
    assert infer_format(str(written / "csv" / "train.csv")) == ("csv", [])
    assert infer_format(str(tmp_path / "t.tsv")) == ("csv", ["csv.separator=tab"])
    assert infer_format("s-{000..009}.tar") == ("webdataset", [])
    assert infer_format(str(written / "webdataset")) == ("webdataset", [])
    assert infer_format(str(written / "coco")) == ("coco", [])
    assert infer_format(str(written / "coco" / "annotations" / "captions_id.json"))[0] == "coco"
    assert infer_format(str(tmp_path / "list.json"))[0] == "imagenet_captions"
    assert infer_format(str(written / "imagefolder" / "id")) == ("imagefolder", [])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(MMCLError, match="notes.txt.*--format"):
        infer_format(str(tmp_path / "notes.txt"))
    with pytest.raises(MMCLError, match="nope.csv does not exist"):
        infer_format(str(tmp_path / "nope.csv"))


def test_config_format_auto_is_inferred_and_saved_resolved(tmp_path, written):
    rows = (written / "csv" / "train.csv").read_text().replace(",", "\t")
    (tmp_path / "v.tsv").write_text(rows)
    overrides = ["format=auto", f"path={written / 'coco'}", "val_format=auto"]
    cfg = load_config(DataConfig, None, [*overrides, f"val_path={tmp_path / 'v.tsv'}"])
    assert (cfg.format, cfg.val_format, cfg.csv.separator) == ("coco", "csv", "\t")
    with pytest.raises(MMCLError, match="data.format=auto needs data.path"):
        load_config(DataConfig, None, ["format=auto"])


def test_inspect_of_neither_world_nor_path_names_both(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "shapez")]) == 2
    err = capsys.readouterr().err
    assert "shapez" in err and "registered world (" in err and "shapes" in err and "path" in err
