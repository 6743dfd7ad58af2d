"""`mmcl eval RUN [--tasks ...]`: score a trained run on every task and shift."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mmcl.config import check_choice
from mmcl.train.config import EVAL_TASK_NAMES

log = logging.getLogger("mmcl")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a run folder's checkpoints")
    p.add_argument("run", help="run folder (holds checkpoints/latest)")
    p.add_argument(
        "--tasks",
        help=f"comma-separated, from: {', '.join(EVAL_TASK_NAMES)} (default: the run's eval.tasks)",
    )
    p.add_argument(
        "--checkpoint",
        choices=("latest", "all"),
        default="latest",
        help="latest: score the last checkpoint into results.json (default); all: score every "
        "kept checkpoint into checkpoint_results.json, and the report draws the run's path on "
        "the id-shift plane",
    )
    p.add_argument("--json", action="store_true", help="print the results written to stdout")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from mmcl.cli.report import write_run_report
    from mmcl.eval.run import evaluate_checkpoints, evaluate_run

    tasks = None
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        for task in tasks:
            check_choice("--tasks", task, EVAL_TASK_NAMES)
    score = evaluate_checkpoints if args.checkpoint == "all" else evaluate_run
    results = score(Path(args.run), tasks, progress=lambda m: log.info("eval: %s", m))
    if (Path(args.run) / "results.json").is_file():
        write_run_report(Path(args.run), title=f"mmcl run {results['meta']['run']}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0
