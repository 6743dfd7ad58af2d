"""The compact token table (`model.vocab`) against today's full table, one CLIP step each.

    python bench/bench_compact_vocab.py [--steps 20] [--warmup 3] [--threads 1] [--json]
        [key=value ...]

Builds the demo's CLIP arm (`mmcl.experiments.calibrated.BUDGET`, method clip) three times in one
process with the same seed: the full 49,408-row table (`model.vocab=full`, today's step),
the compact table (the world's ids), and the full table with `model.channels_last=true`. Every arm
runs mmcl's own `Trainer._step` on the same batches, taken in turn step by step so that load on
the machine falls on all arms alike. Prints the median seconds per step, the ratio full/compact,
the losses of every step and the size of a model + optimizer checkpoint; exits 1 when a compact
step's loss differs from the full table's in any bit. channels_last sums its convolutions in
another order, so only its time ratio is reported, not its losses.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from mmcl.config import load_config
from mmcl.data.batch import Batch
from mmcl.experiments.calibrated import BUDGET
from mmcl.train.config import RunConfig
from mmcl.train.distributed import setup_runtime
from mmcl.train.trainer import Trainer

ARMS = {
    "full": ["model.vocab=full"],
    "compact": ["model.vocab=auto"],
    "channels_last": ["model.vocab=full", "model.channels_last=true"],
}


def arm_trainer(name: str, run_dir: Path, extra: list[str]) -> Trainer:
    """A Trainer for one arm: the budget, method clip, the arm's overrides (on the CPU)."""
    overrides = [*BUDGET, "method.name=clip", f"name=bench_{name}", f"out_dir={run_dir}"]
    cfg = load_config(RunConfig, None, [*overrides, *ARMS[name], *extra])
    return Trainer(cfg, run_dir, setup_runtime("cpu"))


def endless_batches(trainer: Trainer) -> Iterator[Batch]:
    while True:
        yield from trainer._epoch_loader()


def timed_step(trainer: Trainer, batch: Batch) -> tuple[float, float]:
    """(seconds, loss) of one training step."""
    start = time.perf_counter()
    loss = trainer._step(trainer.method, batch)["loss"]
    return time.perf_counter() - start, float(loss)


def checkpoint_mb(trainer: Trainer) -> float:
    """MB of the model's and optimizer's state, as a checkpoint holds them."""
    buffer = io.BytesIO()
    torch.save(
        {"method": trainer.method.state_dict(), "opt": trainer.optimizer.state_dict()}, buffer
    )
    return buffer.tell() / 1e6


def run(args: argparse.Namespace) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="mmcl_bench_vocab_"))
    try:
        trainers = {name: arm_trainer(name, run_dir / name, args.override) for name in ARMS}
        batches = endless_batches(trainers["full"])
        seconds: dict[str, list[float]] = {name: [] for name in ARMS}
        losses: dict[str, list[float]] = {name: [] for name in ARMS}
        for step in range(args.warmup + args.steps):
            batch = next(batches)
            for name, trainer in trainers.items():
                took, loss = timed_step(trainer, batch)
                if step >= args.warmup:
                    seconds[name].append(took)
                losses[name].append(loss)
        sizes = {name: checkpoint_mb(trainer) for name, trainer in trainers.items()}
        rows = {
            name: len(t.method.model.text_tower.token_embedding.weight)
            for name, t in trainers.items()
        }
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    return {
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0],
        "steps": args.steps,
        "warmup": args.warmup,
        "median_s": median,
        "ratio_full_over_compact": median["full"] / median["compact"],
        "ratio_full_over_channels_last": median["full"] / median["channels_last"],
        "losses": losses,
        "identical_losses": losses["full"] == losses["compact"],
        "checkpoint_mb": sizes,
        "table_rows": rows,
    }


def print_report(report: dict) -> None:
    print(f"cpu, torch threads {report['threads']}, load average {report['load_average']:.2f}")
    print("step  loss full              loss compact           equal")
    pairs = zip(report["losses"]["full"], report["losses"]["compact"], strict=True)
    for step, (a, b) in enumerate(pairs):
        print(f"{step:4d}  {a!r:22} {b!r:22} {a == b}")
    for name, seconds in report["median_s"].items():
        rows, size = report["table_rows"][name], report["checkpoint_mb"][name]
        print(
            f"{name:14} {1e3 * seconds:8.1f} ms/step  table rows {rows:6d}  "
            f"checkpoint {size:.2f} MB"
        )
    print(f"ratio full/compact       {report['ratio_full_over_compact']:.3f}")
    print(f"ratio full/channels_last {report['ratio_full_over_channels_last']:.3f}")
    same = report["identical_losses"]
    print(f"losses over {len(report['losses']['full'])} steps identical: {same}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per arm")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (losses kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("override", nargs="*", help="extra key=value RunConfig overrides")
    args = parser.parse_args(argv)
    if args.steps + args.warmup < 10:
        parser.error("--steps + --warmup must be at least 10: the losses compared need 10 steps")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    report = run(args)
    print(json.dumps(report, indent=1)) if args.json else print_report(report)
    return 0 if report["identical_losses"] else 1


if __name__ == "__main__":
    sys.exit(main())
