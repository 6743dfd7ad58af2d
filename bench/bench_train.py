"""Training throughput (samples/s) and achieved FLOP/s as a fraction of the measured matmul peak.

    python bench/bench_train.py [--method clip] [--image small_cnn] [--width 16]
        [--batch-size 256] [--image-size 32] [--steps 10] [--precision fp32,bf16] [--json]

For each precision it first times square matmuls to find this machine's peak, then drives mmcl's
own `Trainer._step` on the real loader (so the measured loop is the one `mmcl train` runs), counts
one step's forward+backward FLOPs with `torch.utils.flop_counter.FlopCounterMode`, and reports
achieved FLOP/s against that peak. The loader is also timed alone, to show whether data or compute
bounds the step. On CPUs without AMX / AVX-512 BF16, PyTorch's bf16 matmul is a slow reference
kernel; bf16 training is then skipped (with a note) unless `--force-bf16`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmcl.config import load_config
from mmcl.data.batch import Batch
from mmcl.train.config import RunConfig
from mmcl.train.distributed import setup_runtime
from mmcl.train.precision import autocast
from mmcl.train.trainer import Trainer

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SLOW_BF16_RATIO = 0.1  # bf16 peak below this share of fp32 peak: skip bf16 training


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_seconds(size: int, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """Mean seconds of one (size x size) @ (size x size) matmul after one warm-up call."""
    a = torch.randn(size, size, device=device).to(dtype)  # (N, N)
    b = torch.randn(size, size, device=device).to(dtype)  # (N, N)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def matmul_peak(
    dtype: torch.dtype, device: torch.device, max_size: int, call_budget_s: float
) -> dict:
    """Best FLOP/s over square sizes 256, 512, ... up to `max_size`, growing only while the next
    size's predicted call (8x this one) stays under `call_budget_s`: a slow reference bf16 kernel
    would otherwise take minutes."""
    best = {"flops_per_s": 0.0, "size": 0, "seconds_per_call": 0.0}
    size = 256
    while size <= max_size:
        probe = matmul_seconds(size, dtype, device, repeats=1)
        repeats = max(1, min(10, int(call_budget_s / max(probe, 1e-9))))
        seconds = matmul_seconds(size, dtype, device, repeats) if repeats > 1 else probe
        rate = 2 * size**3 / seconds
        if rate > best["flops_per_s"]:
            best = {"flops_per_s": rate, "size": size, "seconds_per_call": seconds}
        if 8 * seconds >= call_budget_s:
            break
        size *= 2
    return best


def run_config(args: argparse.Namespace, precision: str, run_dir: Path) -> RunConfig:
    # Enough scheduled steps that warm-up + timing sit in the lr warm-up/cosine, never past it.
    total = args.warmup + 2 * args.steps + 2
    overrides = [
        f"name=bench_{precision}",
        f"out_dir={run_dir}",
        f"method.name={args.method}",
        f"model.image={args.image}",
        f"model.width={args.width}",
        f"data.shapes.image_size={args.image_size}",
        f"data.num_workers={args.num_workers}",
        f"train.precision={precision}",
        f"train.device={args.device}",
        f"train.batch_size={args.batch_size}",
        f"train.steps={total}",
        f"train.warmup_steps={min(30, total // 2)}",
        "train.progress=false",
    ]
    return load_config(RunConfig, None, overrides + list(args.override))


def endless_batches(trainer: Trainer) -> Iterator[Batch]:
    """The trainer's loader, epoch after epoch, resuming where its state says."""
    while True:
        yield from trainer._epoch_loader()


def loader_samples_per_s(trainer: Trainer, n_batches: int) -> float:
    """Samples/s of the training loader alone (one warm-up batch, then n_batches)."""
    batches = endless_batches(trainer)
    next(batches)
    start = time.perf_counter()
    samples = sum(len(next(batches)) for _ in range(n_batches))
    return samples / (time.perf_counter() - start)


def step_flops(trainer: Trainer, batch: Batch) -> tuple[float, str]:
    """FLOPs of one training step; '3x forward' when the counter saw no backward FLOPs."""
    device = trainer.runtime.device
    with (
        torch.no_grad(),
        FlopCounterMode(display=False) as counter,
        autocast(trainer.precision, device),
    ):
        trainer.method(batch.to(device))
    forward = float(counter.get_total_flops())
    with FlopCounterMode(display=False) as counter:
        trainer._step(trainer.method, batch)
    full = float(counter.get_total_flops())
    if full > 1.5 * forward:
        return full, "counted fwd+bwd"
    return 3.0 * forward, "3x forward"


def bench_precision(args: argparse.Namespace, precision: str, peak: float) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"mmcl_bench_{precision}_"))
    try:
        runtime = setup_runtime(args.device)
        trainer = Trainer(run_config(args, precision, run_dir), run_dir, runtime)
        device = runtime.device
        loader_rate = loader_samples_per_s(trainer, args.steps)
        batches = endless_batches(trainer)
        flops, flop_source = step_flops(trainer, next(batches))
        for _ in range(args.warmup):
            trainer._step(trainer.method, next(batches))
        synchronize(device)
        start = time.perf_counter()
        samples = 0
        for _ in range(args.steps):
            batch = next(batches)
            trainer._step(trainer.method, batch)
            samples += len(batch)
        synchronize(device)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    achieved = flops * args.steps / seconds
    return {
        "precision": precision,
        "samples_per_s": samples / seconds,
        "loader_samples_per_s": loader_rate,
        "gflop_per_step": flops / 1e9,
        "flop_source": flop_source,
        "achieved_tflop_per_s": achieved / 1e12,
        "peak_tflop_per_s": peak / 1e12,
        "fraction_of_peak": achieved / peak,
        "seconds": seconds,
        "steps": args.steps,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="clip", help="clip | simclr | supervised")
    parser.add_argument("--image", default="small_cnn", help="model.image: small_cnn | resnet18 …")
    parser.add_argument("--width", type=int, default=16, help="model.width (small_cnn)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=32, help="32 or 64 (shapes world)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per precision")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--precision", default="fp32,bf16", help="comma list of fp32, bf16")
    parser.add_argument("--force-bf16", action="store_true", help="train bf16 even if slow")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--num-workers", type=int, default=0, help="data.num_workers")
    parser.add_argument("--peak-size", type=int, default=2048, help="largest matmul size")
    parser.add_argument("--peak-call-s", type=float, default=1.0, help="max seconds per matmul")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("override", nargs="*", help="extra key=value RunConfig overrides")
    args = parser.parse_args(argv)
    args.precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    for name in args.precisions:
        if name not in DTYPES:
            parser.error(f"--precision: {name!r} is not one of {', '.join(DTYPES)}")
    return args


def print_table(report: dict) -> None:
    print(
        f"device {report['device']}, torch threads {report['threads']}, "
        f"load average {report['load_average']}"
    )
    for name, peak in report["peaks"].items():
        print(
            f"matmul peak {name}: {peak['flops_per_s'] / 1e12:.4f} TFLOP/s "
            f"(size {peak['size']}, {peak['seconds_per_call'] * 1e3:.1f} ms/call)"
        )
    for note in report["notes"]:
        print(f"note: {note}")
    header = (
        "precision",
        "samples/s",
        "loader/s",
        "GFLOP/step",
        "TFLOP/s",
        "peak TFLOP/s",
        "of peak",
        "FLOPs",
    )
    print(" ".join(f"{h:>12s}" for h in header))
    for row in report["results"]:
        print(
            f"{row['precision']:>12s} {row['samples_per_s']:12.1f} "
            f"{row['loader_samples_per_s']:12.1f} {row['gflop_per_step']:12.3f} "
            f"{row['achieved_tflop_per_s']:12.4f} {row['peak_tflop_per_s']:12.4f} "
            f"{row['fraction_of_peak']:12.1%} {row['flop_source']:>12s}"
        )
    if report["bf16_over_fp32"] is not None:
        print(f"bf16/fp32 throughput: {report['bf16_over_fp32']:.2f}x")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = setup_runtime(args.device).device
    peaks = {
        name: matmul_peak(DTYPES[name], device, args.peak_size, args.peak_call_s)
        for name in ("fp32", "bf16")
    }
    notes, results = [], []
    bf16_ratio = peaks["bf16"]["flops_per_s"] / peaks["fp32"]["flops_per_s"]
    for precision in args.precisions:
        if precision == "bf16" and bf16_ratio < SLOW_BF16_RATIO and not args.force_bf16:
            notes.append(
                f"bf16 training skipped: bf16 matmul peak is {bf16_ratio:.4f}x fp32 on {device} "
                "(no fast bf16 kernel); pass --force-bf16 to time it anyway"
            )
            continue
        results.append(bench_precision(args, precision, peaks[precision]["flops_per_s"]))
    rates = {row["precision"]: row["samples_per_s"] for row in results}
    report = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "config": {k: v for k, v in vars(args).items() if k != "precisions"},
        "peaks": peaks,
        "bf16_peak_over_fp32": bf16_ratio,
        "notes": notes,
        "results": results,
        "bf16_over_fp32": rates["bf16"] / rates["fp32"] if len(rates) == 2 else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return report


if __name__ == "__main__":
    main()
