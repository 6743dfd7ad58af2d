"""Training from every on-disk format: a few steps each, DDP over shards, SIGKILL + resume."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from mmcl.cli import main
from mmcl.eval.tasks import read_results
from mmcl.train.metrics_log import read_metrics

from .runs import latest_step, run_two_processes, spawn_mmcl, write_config

MODEL = [
    "model.width=4",
    "model.text_width=32",
    "model.text_layers=1",
    "model.text_heads=2",
    "model.embed_dim=16",
]
TINY = [
    *MODEL,
    "train.batch_size=8",
    "train.steps=3",
    "train.warmup_steps=1",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.progress=false",
    "data.image_size=32",
]
SHARDS = "train-{000000..000007}.tar"


@pytest.fixture(scope="module")
def data(tmp_path_factory, world_cache) -> Path:
    root = tmp_path_factory.mktemp("data")
    for fmt in ("csv", "coco", "imagefolder", "webdataset"):
        args = ["data", "make", "shapes", "shapes.n_train=64", "shapes.n_test=64"]
        args += [f"cache_dir={world_cache}", "--out", str(root / fmt), "--format", fmt]
        assert main([*args, "--shard-size", "8"]) == 0
    return root


@pytest.mark.parametrize(
    "fmt, method, path",
    [
        ("csv", "clip", "csv/train.csv"),
        ("coco", "clip", "coco/annotations/captions_train.json"),
        ("imagefolder", "supervised", "imagefolder/train"),
        ("webdataset", "simclr", f"webdataset/{SHARDS}"),
    ],
)
def test_trains_a_few_steps_from_each_format(tmp_path, data, fmt, method, path):
    args = ["train", "configs/clip_shapes.yaml", *TINY, f"out_dir={tmp_path}", f"name={fmt}"]
    args += [f"method.name={method}", f"data.format={fmt}", f"data.path={data / path}"]
    assert main([*args, "--no-eval"]) == 0
    steps = [m["step"] for m in read_metrics(tmp_path / fmt / "metrics.jsonl")]
    assert steps == [1, 2, 3]


def test_csv_run_is_scored_zero_shot_on_an_imagefolder_val_split(tmp_path, data):
    args = ["train", "configs/clip_shapes.yaml", *TINY, f"out_dir={tmp_path}", "name=ev"]
    args += ["data.format=csv", f"data.path={data / 'csv/train.csv'}", "data.csv.label_key=label"]
    args += [f"data.val_path={data / 'imagefolder/id'}", "data.val_format=imagefolder"]
    args += [f"data.val_shifts={{again: {data / 'imagefolder/id'}}}"]  # a shift set: same images
    args += ["eval.tasks=[zeroshot,retrieval,knn]", "eval.probe_train_size=64"]
    assert main(args) == 0
    records = read_results(tmp_path / "ev" / "results.json")["records"]
    assert {r["task"] for r in records} == {"zeroshot", "retrieval", "knn"}
    by_split = {(r["task"], r["metric"], r["split"]): r["value"] for r in records}
    assert {split for _, _, split in by_split} == {"val", "again"}
    for (task, metric, split), value in by_split.items():
        assert value == by_split[(task, metric, "val" if split == "again" else "again")]


def test_schema_error_stops_before_training(tmp_path, data, capsys):
    args = ["train", "configs/clip_shapes.yaml", *TINY, f"out_dir={tmp_path}", "name=bad"]
    args += ["data.format=csv", f"data.path={data / 'csv/train.csv'}", "data.csv.img_key=image"]
    assert main(args) == 2
    assert "train.csv: missing column(s) 'image'" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "metrics.jsonl").exists()


def test_two_process_torchrun_sees_every_shard_sample_once_per_epoch(tmp_path, data):
    config = write_config(
        tmp_path / "c.yaml",
        [*TINY, "data.format=webdataset", f"data.path={data / 'webdataset' / SHARDS}"],
    )
    out = tmp_path / "seen.json"
    worker = Path(__file__).with_name("formats_ddp_worker.py")
    run_two_processes(str(worker), str(config), str(out))
    result = json.loads(out.read_text())
    assert result["steps"] == 64 // 8
    for ranks in result["epochs"]:
        assert not set(ranks[0]) & set(ranks[1])
        assert sorted(ranks[0] + ranks[1]) == list(range(64))
    assert result["epochs"][0] != result["epochs"][1]  # reshuffled


@pytest.mark.slow
def test_sigkilled_webdataset_run_resumes_to_the_same_final_metrics(tmp_path, data):
    steps = 40  # 5 epochs of 8 batches: the kill lands mid-epoch
    overrides = [
        *MODEL,
        "train.batch_size=8",
        f"train.steps={steps}",
        "train.warmup_steps=2",
        "train.log_every=1",
        "train.checkpoint_every=3",
        "train.progress=false",
        "method.name=simclr",  # augmentation RNG too
        "data.format=webdataset",
        f"data.path={data / 'webdataset' / SHARDS}",
        "data.num_workers=2",
        "data.webdataset.shuffle_buffer=5",
        f"out_dir={tmp_path / 'runs'}",
    ]
    straight = write_config(tmp_path / "s.yaml", [*overrides, "name=straight"])
    killed = write_config(tmp_path / "k.yaml", [*overrides, "name=killed"])
    process = spawn_mmcl("train", str(killed), "--no-eval")
    run = tmp_path / "runs" / "killed"
    deadline = time.time() + 200
    while latest_step(run) < 10 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 0 < latest_step(run) < steps
    resumed = spawn_mmcl("train", "--resume", str(run), "--no-eval")
    assert resumed.wait() == 0, resumed.stdout.read()
    reference = spawn_mmcl("train", str(straight), "--no-eval")
    assert reference.wait() == 0, reference.stdout.read()

    def losses(name: str) -> list[tuple[int, float]]:
        metrics = read_metrics(tmp_path / "runs" / name / "metrics.jsonl")
        return [(m["step"], m["loss"]) for m in metrics]

    assert losses("killed") == losses("straight")
    assert [s for s, _ in losses("killed")] == list(range(1, steps + 1))
