"""`mmcl eval --model`: a saved open_clip model scored on a mock ImageNet and its shifts, each
in its real on-disk layout, then placed against the shipped testbed by `mmcl robustness`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from mmcl.cli import main
from mmcl.data.formats.class_subsets import class_subset, imagenet_wnids
from mmcl.eval.tasks import read_results

from ..models.test_open_clip_models import TINY
from ..train.runs import run_two_processes

CLASSES = (462, 470, 658)  # ImageNet indices in ImageNet-R, ImageNet-A and ObjectNet alike
PER_CLASS = 2
SHIFTS = ("imagenet_v2", "imagenet_sketch", "imagenet_r", "imagenet_a", "objectnet")
TESTBED = (
    Path(__file__).parents[2].parent / "shared" / "data" / "imagenet-testbed_robustness_top1s.csv"
)


def _images(folder: Path, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(PER_CLASS):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{k}.png")


def mock_imagenet(root: Path) -> dict[str, Path]:
    """val and every shift, each in the layout its real release uses."""
    wnids = [imagenet_wnids()[i] for i in CLASSES]
    objectnet = class_subset("objectnet")
    folder_of = {g[0]: int(key) for key, g in zip(objectnet.keys, objectnet.groups, strict=True)}
    layouts = {
        "val": wnids,  # ImageNet val: wnid folders
        "imagenet_v2": [str(i) for i in CLASSES],  # class-index folders
        "imagenet_sketch": wnids,
        "imagenet_r": wnids,  # 200-class subsets, wnid folders
        "imagenet_a": wnids,
    }
    for split, folders in layouts.items():
        for seed, name in enumerate(folders):
            _images(root / split / name, seed)
    for index in range(313):  # ObjectNet: 313 named folders, matched by sorted position
        (root / "objectnet" / f"object_{index:03d}").mkdir(parents=True)
    for seed, imagenet_index in enumerate(CLASSES):
        _images(root / "objectnet" / f"object_{folder_of[imagenet_index]:03d}", seed)
    return {split: root / split for split in ("val", *SHIFTS)}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    (folder / "mmcl-tiny-vit.json").write_text(json.dumps(TINY["mmcl-tiny-vit"]))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    model = open_clip.create_model("mmcl-tiny-vit", pretrained=None)
    torch.save({"state_dict": model.state_dict()}, folder / "vit.pt")
    return folder / "vit.pt"


def _eval(tmp_path: Path, saved_model: Path, shifts: dict[str, Path], *extra: str) -> int:
    listed = ",".join(f"{name}={path}" for name, path in shifts.items())
    return main(["eval", "--model", "mmcl-tiny-vit", "--pretrained", str(saved_model),
                 "--data", f"imagenet={tmp_path / 'data' / 'val'}", "--shifts", listed,
                 "--out", str(tmp_path / "out"), *extra])  # fmt: skip


def test_every_split_of_a_mock_imagenet_is_scored_in_its_own_layout(tmp_path, saved_model):
    splits = mock_imagenet(tmp_path / "data")
    assert _eval(tmp_path, saved_model, {s: splits[s] for s in SHIFTS}) == 0
    results = read_results(tmp_path / "out" / "results.json")
    accuracy = {r["split"]: r for r in results["records"] if r["metric"] == "accuracy"}
    assert set(accuracy) == {"imagenet", *SHIFTS}
    assert all(r["n_samples"] == len(CLASSES) * PER_CLASS for r in accuracy.values())
    assert results["meta"]["templates"] == 80  # ImageNet folders: CLIP's 80 templates
    metrics = {r["metric"] for r in results["records"]}
    assert {"accuracy", "mean_per_class_accuracy"} <= metrics
    page = (tmp_path / "out" / "report.html").read_text()
    assert "open_clip mmcl-tiny-vit with " in page and "scored (not trained here)" in page
    assert "drop: imagenet - shift" in page and "From imagenet to objectnet:" in page
    assert _eval(tmp_path, saved_model, {s: splits[s] for s in SHIFTS}, "--robustness") == 0
    placed = json.loads((tmp_path / "out" / "robustness" / "robustness.json").read_text())
    assert [m["model"] for m in placed["models"]] == ["eval_mmcl-tiny-vit"]
    assert placed["fits"]  # the shipped ImageNet testbed's line, one per shift and the average
    assert (tmp_path / "out" / "robustness" / "robustness.html").is_file()


def test_class_index_folders_under_another_name_are_a_clear_error(tmp_path, saved_model, capsys):
    splits = mock_imagenet(tmp_path / "data")
    assert _eval(tmp_path, saved_model, {"v2": splits["imagenet_v2"]}) == 2
    error = capsys.readouterr().err
    assert "6 of 6 images" in error and "name the shift imagenet_v2" in error


def test_an_empty_split_is_a_clear_error(tmp_path, saved_model, capsys):
    mock_imagenet(tmp_path / "data")
    (tmp_path / "empty" / imagenet_wnids()[CLASSES[0]]).mkdir(parents=True)
    assert _eval(tmp_path, saved_model, {"imagenet_sketch": tmp_path / "empty"}) == 2
    assert "no images found" in capsys.readouterr().err


# ~25 s (torchrun, two ranks): the default run checks rank shares gathered in row order at the
# feature level (tests/eval/test_streamed_features.py); this is the whole CLI under torchrun.
@pytest.mark.slow
def test_torchrun_ranks_score_a_mock_imagenet_as_one_process_does(tmp_path, saved_model):
    """`torchrun --nproc-per-node 2 -m mmcl eval`: the ranks split every split's rows, and
    rank 0 writes the same records one process writes."""
    splits = mock_imagenet(tmp_path / "data")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    config = {"model_cfg": TINY["mmcl-tiny-vit"], "preprocess_cfg": {}}
    (model_dir / "open_clip_config.json").write_text(json.dumps(config))
    shutil.copy(saved_model, model_dir / "open_clip_pytorch_model.bin")
    args = ["-m", "mmcl", "eval", "--model", f"local-dir:{model_dir}",
            "--data", f"imagenet={splits['val']}",
            "--shifts", f"imagenet_r={splits['imagenet_r']}"]  # fmt: skip
    alone = [sys.executable, *args, "--out", str(tmp_path / "alone")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(alone, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_two_processes(*args, "--out", str(tmp_path / "ranks"))

    def values(out: str) -> dict[tuple, float]:
        records = read_results(tmp_path / out / "results.json")["records"]
        return {(r["task"], r["split"], r["metric"]): r["value"] for r in records}

    alone_values, rank_values = values("alone"), values("ranks")
    assert alone_values.keys() == rank_values.keys() and alone_values
    for key, value in alone_values.items():
        assert rank_values[key] == pytest.approx(value, abs=1e-6), key
    assert len(list((tmp_path / "ranks" / "features").glob("*.pt"))) == 2  # rank 0 wrote each once
