"""`torchrun --nproc-per-node 2 -m mmcl train` (gloo on CPU): trains, and only rank 0 writes."""

from __future__ import annotations

import yaml

from mmcl.eval.tasks import read_results
from mmcl.train.metrics_log import read_metrics

from .runs import run_two_processes


def test_two_process_training_runs_and_rank0_writes_once(tmp_path, world_cache):
    config = {
        "name": "ddp",
        "out_dir": str(tmp_path),
        "data": {"cache_dir": world_cache, "shapes": {"n_train": 512, "n_test": 128}},
        "model": {"width": 4, "text_width": 32, "text_layers": 1, "text_heads": 2, "embed_dim": 16},
        "train": {
            "batch_size": 64,
            "steps": 4,
            "log_every": 1,
            "checkpoint_every": 2,
            "progress": False,
        },
        "eval": {"tasks": ["zeroshot"], "probe_train_size": 256},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run_two_processes("-m", "mmcl", "train", str(tmp_path / "c.yaml"))
    run = tmp_path / "ddp"
    assert [m["step"] for m in read_metrics(run / "metrics.jsonl")] == [1, 2, 3, 4]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest",
        "step_0000002.pt",
        "step_0000004.pt",
    ]
    records = read_results(run / "results.json")["records"]
    assert {r["split"] for r in records} == {"id", "spurious_reversed", "sketch", "unseen_colors"}
