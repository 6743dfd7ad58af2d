"""`mmcl data make WORLD --format clip_benchmark`: CLIP_benchmark's webdataset layout, read back
as CLIP_benchmark reads it, written whole or not at all."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import webdataset as wds

from mmcl.cli import main
from mmcl.data.formats import clip_benchmark
from mmcl.data.formats.clip_benchmark import clip_benchmark_templates
from mmcl.data.worlds.captions import PROMPT_TEMPLATES
from mmcl.data.worlds.shapes import SHIFTS
from mmcl.errors import MMCLError

from .conftest import N_TEST, WORLD

SHARD = 5  # 16 test images: shards of 5, 5, 5 and 1


def _make(out, world_cache, *extra: str) -> int:
    args = ["data", "make", "shapes", *WORLD, f"cache_dir={world_cache}", "--out", str(out)]
    return main([*args, "--format", "clip_benchmark", "--shard-size", str(SHARD), *extra])


def test_every_test_split_is_a_clip_benchmark_dataset(tmp_path, world_cache, world, capsys):
    assert _make(tmp_path, world_cache) == 0
    tests = [name for name in SHIFTS if name != "train"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(tests)  # nothing else, no temp
    printed = capsys.readouterr().out
    assert f"--dataset {' '.join(f'wds/{name}' for name in tests)} " in printed
    assert f"--dataset_root '{tmp_path}/{{dataset_cleaned}}'" in printed
    folder, split = tmp_path / "id", world["id"]
    assert (folder / "classnames.txt").read_text().splitlines() == split.class_names
    templates = (folder / "zeroshot_classification_templates.txt").read_text().splitlines()
    assert [t.format(c="star") for t in templates] == [t.format("star") for t in PROMPT_TEMPLATES]
    assert (folder / "test" / "nshards.txt").read_text() == "4\n"
    assert json.loads((folder / "mmcl_split.json").read_text())["n_samples"] == N_TEST
    samples = list(  # as CLIP_benchmark's build_wds_dataset reads them
        wds.WebDataset(f"{folder}/test/{{0..3}}.tar", shardshuffle=False)
        .decode(wds.autodecode.ImageHandler("torchrgb8", extensions=["webp", "png", "jpg"]))
        .to_tuple("webp;png;jpg;jpeg", "cls")
    )
    assert [label for _, label in samples] == split.labels.tolist()
    assert all((image == split.images[i]).all() for i, (image, _) in enumerate(samples))


def test_a_second_make_replaces_its_dataset_and_spares_other_folders(tmp_path, world_cache):
    assert _make(tmp_path, world_cache, "--splits", "id") == 0
    (tmp_path / "id" / "stale.txt").write_text("from before")
    assert _make(tmp_path, world_cache, "--splits", "id") == 0
    assert not (tmp_path / "id" / "stale.txt").exists()
    (tmp_path / "sketch").mkdir()
    (tmp_path / "sketch" / "mine.txt").write_text("someone's data")
    assert _make(tmp_path, world_cache, "--splits", "sketch") == 2
    assert (tmp_path / "sketch" / "mine.txt").read_text() == "someone's data"


def test_a_write_cut_short_leaves_the_previous_dataset(tmp_path, world_cache, monkeypatch, capsys):
    assert _make(tmp_path, world_cache, "--splits", "id") == 0
    before = (tmp_path / "id" / "test" / "0.tar").read_bytes()

    def fail(image, ext):
        raise OSError("disk full")

    monkeypatch.setattr(clip_benchmark, "encode_image", fail)
    assert _make(tmp_path, world_cache, "--splits", "sketch,id") == 2
    assert "disk full" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["id"]  # no sketch, no temporary folder
    assert (tmp_path / "id" / "test" / "0.tar").read_bytes() == before


def test_templates_become_clip_benchmarks_and_odd_ones_are_refused():
    assert clip_benchmark_templates(["a photo of a {}."]) == ["a photo of a {c}."]
    with pytest.raises(MMCLError, match="no other braces"):
        clip_benchmark_templates(["a {} in {braces}"])


def test_the_clip_benchmark_writer_is_listed_without_importing_its_module_first():
    code = (
        "from mmcl.data.formats.writers import writer_formats; "
        "assert 'clip_benchmark' in writer_formats(), writer_formats()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
