"""`mmcl eval RUN [--tasks ...]`: score a trained run on every task and shift; or
`mmcl eval --model NAME --pretrained PATH --data NAME=DIR --shifts NAME=DIR,...`: score any
open_clip model and checkpoint on an ImageNet-style folder and its shifted test sets.

Under `torchrun --nproc-per-node W -m mmcl eval ...` the W processes join one process group
(gloo on CPU, NCCL on GPU, as `mmcl train` does) and each extracts a share of every split's
features; rank 0 writes the feature cache, the results and the report."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mmcl.cli.options import int_in
from mmcl.config import check_choice, parse_pairs
from mmcl.errors import MMCLError
from mmcl.eval.config import eval_task_names
from mmcl.io import output_folder

if TYPE_CHECKING:  # torch is imported when a command runs, not when the CLI starts
    import torch

    from mmcl.distributed import Shards

log = logging.getLogger("mmcl")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a run folder's checkpoints, or any open_clip model on folders of images",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", nargs="?", help="run folder (holds checkpoints/); or use --model")
    model = p.add_argument_group("any open_clip model (instead of a run folder)")
    model.add_argument("--model", help="open_clip architecture (ViT-B-32, ...) or local-dir:DIR")
    model.add_argument("--pretrained", default="", help="checkpoint file in open_clip's layout")
    model.add_argument(
        "--data", help="NAME=DIR: the in-distribution ImageFolder (e.g. ImageNet val)"
    )
    model.add_argument(
        "--shifts",
        default="",
        help="NAME=DIR,...: shifted test sets; imagenet_v2 (class-index folders), imagenet_r, "
        "imagenet_a and objectnet are read in their own layouts",
    )
    model.add_argument("--train", default="", help="labelled folder the linear probe fits on")
    model.add_argument(
        "--templates",
        default="",
        help="zero-shot templates, |-separated: presets (openai_imagenet, simple_imagenet, "
        "mmcl_world) or your own ('a photo of a {}.'); default: openai_imagenet for ImageNet "
        "wnid folders. Each zero-shot record names the set and the exact strings it used",
    )
    model.add_argument(
        "--image-size", type=image_size, default=0, help="8 to 1024; default: the model's own"
    )
    model.add_argument(
        "--workers",
        type=int_in(0, 64),
        default=0,
        help="image-decoding processes per rank, e.g. 8 for ImageNet on a GPU (default 0: each "
        "rank decodes its own batches); a run folder's data.num_workers plays this part",
    )
    model.add_argument("--out", help="results folder (default runs/eval_<model>)")
    model.add_argument(
        "--robustness",
        action="store_true",
        help="then place the model against a baseline line (mmcl robustness on every shift; "
        "the shipped ImageNet testbed when --data is named imagenet), into OUT/robustness/",
    )
    model.add_argument("--baseline-table", help="with --robustness: CSV of baseline models")
    p.add_argument(
        "--tasks",
        help="comma-separated registered eval tasks, e.g. zeroshot,linear_probe,knn,retrieval "
        "(default: the run's eval.tasks)",
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


EPILOG = """examples:
  mmcl eval runs/clip_shapes --checkpoint all
  mmcl eval --model ViT-B-32 --pretrained ~/ckpt/vit_b32.pt --data imagenet=/data/imagenet/val \\
      --shifts imagenet_v2=/data/imagenetv2,imagenet_r=/data/imagenet-r,objectnet=/data/objectnet
  torchrun --nproc-per-node 4 -m mmcl eval --model ViT-B-32 --pretrained ~/ckpt/vit_b32.pt \\
      --data imagenet=/data/imagenet/val
"""


def image_size(text: str) -> int:
    """`--image-size`: 0 (the model's own) or a side in pixels, 8 to 1024 as data.image_size."""
    value = int_in(0, 1024)(text)
    if 0 < value < 8:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 (the model's own) or 8 to 1024")
    return value


def check_paths(args: argparse.Namespace) -> None:
    """Every folder eval reads or writes, checked before a process group or model exists, so a
    wrong path costs nothing and is named by the flag that gave it."""
    if not args.model:
        if args.run and Path(args.run).is_dir():  # results.json and report.html go there
            output_folder(args.run, "RUN")
        return
    pretrained_out(args)
    shifts = parse_pairs(args.shifts, "--shifts")
    for flag, pairs in (("--data", parse_pairs(args.data, "--data")), ("--shifts", shifts)):
        for name, folder in pairs.items():
            _check_folder(folder, f"{flag} {name}={folder}")
    if args.train:
        _check_folder(args.train, f"--train {args.train}")
    if args.robustness and not shifts:
        raise MMCLError("--robustness needs --shifts: effective robustness is measured on them")
    if args.baseline_table and not Path(args.baseline_table).is_file():
        raise MMCLError(f"--baseline-table {args.baseline_table}: no such file; give a CSV")


def _check_folder(folder: str, given: str) -> None:
    """`given` (the flag and value as typed) must name an existing folder."""
    if not Path(folder).is_dir():
        raise MMCLError(f"{given}: no such folder; give an existing folder of images")


def pretrained_out(args: argparse.Namespace) -> Path:
    """`--out` (default runs/eval_<model name>), checked to be a folder eval can write."""
    default = f"runs/eval_{Path(args.model.removeprefix('local-dir:')).name}"
    return output_folder(default if args.out is None else args.out, "--out")


def run_eval(args: argparse.Namespace) -> int:
    """Check paths, join torchrun's process group if launched by it, evaluate, leave the group."""
    check_paths(args)
    from mmcl.distributed import Shards
    from mmcl.train.distributed import setup_runtime, teardown_runtime

    device = setup_runtime("auto").device  # this rank's GPU when there is one
    try:
        if args.model:
            return run_pretrained_eval(args, Shards.across_ranks(), device)
        return run_folder_eval(args, Shards.across_ranks(), device)
    finally:
        teardown_runtime()


def run_folder_eval(args: argparse.Namespace, shards: Shards, device: torch.device) -> int:
    if not args.run:
        raise MMCLError("mmcl eval needs a run folder, or --model NAME --data NAME=DIR")
    from mmcl.cli.report import write_run_report
    from mmcl.runs.scoring import evaluate_checkpoints, evaluate_run

    tasks = _tasks(args.tasks)
    score = evaluate_checkpoints if args.checkpoint == "all" else evaluate_run
    results = score(Path(args.run), tasks, lambda m: log.info("eval: %s", m), shards, device)
    if not shards.is_main:
        return 0
    if (Path(args.run) / "results.json").is_file():
        write_run_report(Path(args.run), title=f"mmcl run {results['meta']['run']}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _tasks(text: str | None) -> list[str] | None:
    if not text:
        return None
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    for task in tasks:
        check_choice("--tasks", task, eval_task_names())
    return tasks


def run_pretrained_eval(args: argparse.Namespace, shards: Shards, device: torch.device) -> int:
    from mmcl.cli.report import write_run_report
    from mmcl.runs.pretrained import PretrainedEval, evaluate_pretrained

    if args.run:
        raise MMCLError("give a run folder or --model, not both")
    data = parse_pairs(args.data or "", "--data")
    if len(data) != 1:
        raise MMCLError("--model needs --data NAME=DIR: one in-distribution folder")
    ((id_name, id_path),) = data.items()
    tasks = _tasks(args.tasks) or ["zeroshot"]
    spec = PretrainedEval(
        model=args.model,
        pretrained=args.pretrained,
        id_name=id_name,
        id_path=id_path,
        shifts=parse_pairs(args.shifts, "--shifts"),
        train_path=args.train,
        tasks=tasks,
        templates=[t for t in args.templates.split("|") if t] if args.templates else [],
        image_size=args.image_size,
        workers=args.workers,
    )
    out = pretrained_out(args)
    results = evaluate_pretrained(spec, out, lambda m: log.info("eval: %s", m), shards, device)
    if not shards.is_main:
        return 0
    write_run_report(out, title=f"mmcl eval {args.model}", id_split=id_name)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"wrote {out / 'results.json'} and {out / 'report.html'}")
    if args.robustness:
        return place_against_baseline(out, id_name, list(spec.shifts), args.baseline_table)
    return 0


def place_against_baseline(
    out: Path, id_name: str, shifts: list[str], baseline_table: str | None
) -> int:
    """`mmcl robustness OUT/results.json --id ID --ood SHIFTS ... --out OUT/robustness`."""
    from mmcl.cli import robustness

    parser = argparse.ArgumentParser(prog="mmcl")
    robustness.register(parser.add_subparsers())
    argv = ["robustness", str(out / "results.json"), "--id", id_name, "--ood", ",".join(shifts)]
    argv += ["--out", str(out / "robustness"), "--bootstrap", "200"]
    if baseline_table:
        argv += ["--baseline-table", baseline_table]
    args = parser.parse_args(argv)
    return args.func(args)
