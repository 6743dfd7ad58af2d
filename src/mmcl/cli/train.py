"""`mmcl train CONFIG [key=value ...]`: train any method on any data, then evaluate."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mmcl.config import load_config
from mmcl.errors import MMCLError

if TYPE_CHECKING:  # the config pulls in models and methods: loaded when a command runs
    from mmcl.train.config import RunConfig

log = logging.getLogger("mmcl")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a method (clip, simclr, supervised) from a YAML config",
        description="Train from a YAML config with key=value overrides, e.g. "
        "`mmcl train configs/clip_shapes.yaml train.steps=100 model.image=resnet18`. "
        "Runs under torchrun unchanged. The run folder gets config.yaml, metrics.jsonl, "
        "checkpoints/ and, after evaluation, results.json and report.html.",
    )
    p.add_argument("config", nargs="?", help="YAML config (omit with --resume RUN)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=100")
    p.add_argument(
        "--resume", metavar="RUN", help="continue the run folder RUN from its latest checkpoint"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in the run folder (its checkpoints, metrics and results "
        "are deleted); without it such a folder is refused",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    p.set_defaults(func=run_train)


def resolve_config(args: argparse.Namespace) -> tuple[RunConfig, Path]:
    from mmcl.train.config import RunConfig, as_written

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise MMCLError(f"--resume {run_dir}: no config.yaml there; is it a run folder?")
        overrides = ([args.config] if args.config else []) + args.overrides
        if overrides:
            raise MMCLError("--resume takes no config or overrides: it continues the run as it was")
        if args.overwrite:
            raise MMCLError("--resume continues a run and --overwrite replaces it: give one")
        return load_config(RunConfig, run_dir / "config.yaml", prepare=as_written), run_dir
    if not args.config:
        raise MMCLError("give a config file (see configs/) or --resume RUN")
    cfg = load_config(RunConfig, args.config, args.overrides)
    return cfg, Path(cfg.out_dir) / cfg.name


def run_train(args: argparse.Namespace) -> int:
    from mmcl.cli.report import write_run_report
    from mmcl.runs import door
    from mmcl.runs.scoring import periodic_scores
    from mmcl.train.run_folder import locked_run_folder
    from mmcl.train.trainer import teardown_runtime

    cfg, run_dir = resolve_config(args)
    with locked_run_folder(run_dir):  # held through the evaluation, which writes there too
        periodic = periodic_scores(cfg) if cfg.eval.every else None
        run = door.trained(
            cfg,
            run_dir,
            reuse=False,  # `mmcl train` does what its flags say: resume, overwrite or refuse
            resume=bool(args.resume),
            overwrite=args.overwrite,
            evaluate=periodic,
        )
        if run.runtime.is_main and cfg.eval.after_train and not args.no_eval:
            door.write_scores(
                cfg,
                run.method,
                run_dir,
                cfg.eval.tasks,
                progress=lambda m: log.info("eval: %s", m),
                feature_dir=run_dir / "features",  # `mmcl evaluate` on this run reuses them
            )
            write_run_report(run_dir, title=f"mmcl run {cfg.name}")
            log.info("wrote %s", run_dir / "results.json")
    teardown_runtime()
    return 0
