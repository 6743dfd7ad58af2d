"""A run's records say how they were measured (precision, preprocessing, the data read), and
its meta which versions scored it and what was trained."""

from __future__ import annotations

from importlib import metadata

import torch
from open_clip.constants import OPENAI_DATASET_MEAN

from mmcl.config import load_config
from mmcl.data.sources import load_split
from mmcl.eval.tasks import read_results, write_results
from mmcl.methods.base import DataInfo, build_method
from mmcl.runs.scoring import evaluate_method, results_meta
from mmcl.train.config import RunConfig


def test_world_records_name_precision_preprocessing_and_their_world(tiny_overrides, tmp_path):
    cfg = load_config(RunConfig, None, [*tiny_overrides, "train.precision=fp32", "name=p"])
    train = load_split(cfg.data, "train")
    torch.manual_seed(0)
    method = build_method(cfg.method, cfg.model, DataInfo(train.image_size, len(train.class_names)))
    records = evaluate_method(cfg, method, ["zeroshot"])
    assert records and {r["precision"] for r in records} == {"fp32"}
    assert {r["dataset"] for r in records} == {cfg.data.world}
    assert {r["split"] for r in records} == set(cfg.eval.splits)
    write_results(tmp_path / "results.json", results_meta(cfg, tmp_path), records)
    results = read_results(tmp_path / "results.json")
    meta, (first, *_) = results["meta"], results["records"]
    preprocess = meta["provenance"]["preprocess"][first["preprocess_sha256"]]
    assert preprocess["image_size"] == train.image_size and preprocess["resize_mode"] == "none"
    assert preprocess["mean"] == list(OPENAI_DATASET_MEAN)  # mmcl's towers: OpenAI statistics
    assert (meta["method"], meta["steps"], meta["seed"]) == ("clip", cfg.train.steps, 0)
    assert meta["architecture"] == f"mmcl:{cfg.model.image}+{cfg.model.text}"
    assert meta["torch_version"] == torch.__version__
    assert meta["open_clip_version"] == metadata.version("open_clip_torch")
