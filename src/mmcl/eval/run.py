"""Evaluate a run folder: load its last checkpoint, score every task and shift, write results."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mmcl import __version__
from mmcl.config import config_hash, from_dict
from mmcl.errors import MMCLError
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.eval.tasks import write_results
from mmcl.methods.base import DataInfo, Method, build_method
from mmcl.models.tokenizer import Tokenizer
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig
from mmcl.train.data import load_split
from mmcl.train.precision import resolve_precision


def load_trained(run_dir: Path) -> tuple[RunConfig, Method]:
    """The run's config and its method with the latest checkpoint's weights, on the CPU."""
    path = ckpt.latest_checkpoint(run_dir / "checkpoints")
    if path is None:
        raise MMCLError(f"{run_dir} has no checkpoint (expected {run_dir}/checkpoints/latest)")
    payload = ckpt.load_checkpoint(path)
    cfg = from_dict(RunConfig, payload["config"])
    split = load_split(cfg.data, "train")
    method = build_method(cfg.method, cfg.model, DataInfo(split.image_size, len(split.class_names)))
    method.load_state_dict(payload["method"])
    return cfg, method


def eval_data(cfg: RunConfig, tasks: Sequence[str]) -> EvalData:
    return EvalData(
        dataset=cfg.data.world,
        train=load_split(cfg.data, "train"),
        tests={name: load_split(cfg.data, name) for name in cfg.eval.splits},
        probe_train_size=cfg.eval.probe_train_size,
        attribute_split=(
            load_split(cfg.data, cfg.eval.attribute_split)
            if cfg.eval.attribute_split and "attributes" in tasks
            else None
        ),
        extra={"seed": cfg.train.seed, "config_hash": config_hash(cfg), "method": cfg.method.name},
    )


def evaluate_method(
    cfg: RunConfig,
    method: Method,
    tasks: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    device = next(method.parameters()).device
    bf16 = resolve_precision(cfg.train.precision, device) == "bf16"
    tasks = tasks or cfg.eval.tasks
    with torch.no_grad():
        return evaluate_model(
            method.model,
            cfg.name,
            eval_data(cfg, tasks),
            tasks,
            Tokenizer(cfg.model.context_length),
            bf16,
            progress,
        )


def results_meta(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    return {
        "mmcl_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run": cfg.name,
        "run_dir": str(run_dir),
        "config_hash": config_hash(cfg),
        "seed": cfg.train.seed,
        "method": cfg.method.name,
        "steps": cfg.train.steps,
    }


def evaluate_run(
    run_dir: Path,
    tasks: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Score the run's latest checkpoint and write `results.json`; returns its content."""
    cfg, method = load_trained(run_dir)
    records = evaluate_method(cfg, method, tasks, progress)
    meta = results_meta(cfg, run_dir)
    write_results(run_dir / "results.json", meta, records)
    return {"meta": meta, "records": records}
