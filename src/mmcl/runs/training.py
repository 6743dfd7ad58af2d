"""Train one run, and load a trained one: the entry points every command and experiment calls.

It owns the choice between the one-stage trainer and the stage driver (MCL), so neither
imports the other: `trainer` holds the loop, `stages` drives several of them. Loading follows
the same split: `load_model` reads one checkpoint, `load_trained` a whole run folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from mmcl.config import config_hash, from_dict, load_config, save_config
from mmcl.data.sources import load_train_source
from mmcl.errors import MMCLError
from mmcl.methods.base import METHODS, DataInfo, Method, build_method
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig, as_written
from mmcl.train.data import data_info
from mmcl.train.distributed import Runtime, setup_runtime
from mmcl.train.run_folder import claim_for_new_run, locked_run_folder
from mmcl.train.stages import load_stages, train_stages
from mmcl.train.trainer import Trainer

log = logging.getLogger(__name__)


def train(
    cfg: RunConfig,
    run_dir: Path,
    resume: bool = False,
    evaluate: Callable[[Method], dict[str, float]] | None = None,
    overwrite: bool = False,
) -> tuple[Method, Runtime]:
    """Train one run in `run_dir`; with `resume`, continue from its latest readable checkpoint.

    The run folder is locked for the whole run (a second `mmcl train` into it stops at once).
    Without `resume`, a folder that already holds a run is refused unless `overwrite`, which
    removes that run's outputs first. Methods trained in stages (`Method.multistage`, e.g. MCL)
    go to their stage driver. `evaluate` gives the scores logged every `eval.every` steps
    (single-stage runs).
    """
    with locked_run_folder(run_dir):
        if not resume:
            claim_for_new_run(run_dir, overwrite)
        if METHODS.get(cfg.method.name).multistage:
            return train_stages(cfg, run_dir, resume)
        return _train_one(cfg, run_dir, resume, evaluate)


def _train_one(
    cfg: RunConfig,
    run_dir: Path,
    resume: bool,
    evaluate: Callable[[Method], dict[str, float]] | None = None,
) -> tuple[Method, Runtime]:
    runtime = setup_runtime(cfg.train.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, run_dir, runtime, evaluate=evaluate)
    if resume and not trainer.resume():
        log.info("no checkpoint in %s: starting from step 0", run_dir)
    if runtime.is_main:
        config = run_dir / "config.yaml"
        trainer.writing(config, lambda: save_config(cfg, config))
        log.info(
            "run %s (config %s), precision %s, %s process(es) on %s",
            cfg.name,
            config_hash(cfg),
            trainer.precision,
            runtime.world_size,
            runtime.device,
        )
    method = trainer.fit()
    return method, runtime


def load_trained(run_dir: Path) -> tuple[RunConfig, Method]:
    """The run's config and its method with the latest checkpoint's weights, on the CPU.

    A multistage run (MCL) has no top-level checkpoint: its stage driver loads every stage and
    returns the integrated model.
    """
    config_file = run_dir / "config.yaml"
    if config_file.is_file():
        cfg = load_config(RunConfig, config_file, prepare=as_written)
        if METHODS.get(cfg.method.name).multistage:
            return cfg, load_stages(cfg, run_dir)
    path = ckpt.latest_checkpoint(run_dir / "checkpoints")
    if path is None:
        raise MMCLError(f"{run_dir} has no checkpoint (expected {run_dir}/checkpoints/latest)")
    ckpt.readable_or_explain(path, run_dir)
    return load_model(path)


def load_model(path: Path) -> tuple[RunConfig, Method]:
    """The config and method stored in one checkpoint file (any step, not only the latest):
    the one way mmcl loads a trained model (eval, export, teachers, the testbed).

    The checkpoint's `model_spec` says what the model was built for, so the training data is
    not read; checkpoints written before it existed reopen the data to learn the same.
    """
    payload = ckpt.load_checkpoint(path)
    cfg = from_dict(RunConfig, as_written(payload["config"]))
    spec = payload.get("model_spec")
    if spec is not None:
        info = DataInfo(spec["image_size"], spec["num_classes"])
    else:
        info = data_info(cfg.data, load_train_source(cfg.data))
    method = build_method(cfg.method, cfg.model, info)
    method.load_state_dict(payload["method"])
    return cfg, method
