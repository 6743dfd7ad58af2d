"""Train one run: the entry point every command and experiment calls (`mmcl train` and up).

It owns the choice between the one-stage trainer and the stage driver (MCL), so neither
imports the other: `trainer` holds the loop, `stages` drives several of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from mmcl.config import config_hash, save_config
from mmcl.methods.base import METHODS, Method
from mmcl.train.config import RunConfig
from mmcl.train.distributed import Runtime, setup_runtime
from mmcl.train.run_folder import locked_run_folder
from mmcl.train.stages import train_stages
from mmcl.train.trainer import Trainer

log = logging.getLogger(__name__)


def train(
    cfg: RunConfig,
    run_dir: Path,
    resume: bool = False,
    evaluate: Callable[[Method], dict[str, float]] | None = None,
) -> tuple[Method, Runtime]:
    """Train one run in `run_dir`; with `resume`, continue from its latest readable checkpoint.

    The run folder is locked for the whole run (a second `mmcl train` into it stops at once).
    Methods trained in stages (`Method.multistage`, e.g. MCL) go to their stage driver.
    `evaluate` gives the scores logged every `eval.every` steps (single-stage runs).
    """
    with locked_run_folder(run_dir):
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
