"""`--executor NAME` and `--executor-set KEY=VALUE`: where a command's many runs are trained.

Shared by the commands that train many independent runs (sweep, repro, demo, testbed):
`--executor local` (the default: `--jobs` spawned processes here), `ray` or `slurm`
(`mmcl.runs.executors`), each with its own options, e.g. `--executor ray --executor-set
address=auto` or `--executor slurm --executor-set partition=gpu --executor-set time_min=120`.
The engine, its options and its package are checked when the command starts, before any run;
a bad one is one line naming the flag. The executors module loads on use, so `mmcl --help` does
not import torch.
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import Any

from mmcl.errors import MMCLError

EXAMPLE = "--executor-set address=auto"


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """Add `--executor` and the repeatable `--executor-set` (collected in
    `args.executor_settings`)."""
    parser.add_argument(
        "--executor",
        default="local",
        metavar="NAME",
        help="where the runs are trained: local (default; --jobs processes here), ray (a Ray "
        "cluster, or one started here) or slurm (jobs through submitit)",
    )
    parser.add_argument(
        "--executor-set",
        dest="executor_settings",
        action="append",
        default=[],
        type=setting,
        metavar="KEY=VALUE",
        help="an option of the executor, repeatable: ray address=auto|ray://head:10001, "
        "num_cpus, max_retries; slurm partition, time_min, gpus_per_node, cpus_per_task, "
        "mem_gb, array_parallelism, max_retries, folder, cluster=local (see the README)",
    )


def setting(text: str) -> str:
    """`type=`: KEY=VALUE with a key (the value may be empty, e.g. `address=`)."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE, e.g. {EXAMPLE}")
    return text


def executor_from_args(args: argparse.Namespace) -> Any:
    """The `ExecutorConfig` the flags name, its package checked; an MMCLError naming the flag."""
    from mmcl.config import parse_override_value
    from mmcl.runs.executors import executor_class, executor_config

    settings = {}
    for item in args.executor_settings:
        key, _, raw = item.partition("=")
        settings[key.strip()] = parse_override_value(raw)
    try:
        executor_class(args.executor)
    except MMCLError as error:
        raise MMCLError(f"--executor {args.executor}: {error}") from None
    try:
        config = executor_config(args.executor, settings)
    except MMCLError as error:
        raise MMCLError(f"--executor-set (for --executor {args.executor}): {error}") from None
    executor_class(config.name).check(config.options)  # a missing package: its extra, now
    return config


def executor_context(args: argparse.Namespace) -> AbstractContextManager:
    """`with executor_context(args): ...` opens the command's runs with the executor the flags
    name (checked now, before any work)."""
    from mmcl.runs.executors import using_executor

    return using_executor(executor_from_args(args))
