"""mmcl against open_clip's own training loop: samples/s on the same data, model, batch, precision.

    python bench/vs_open_clip.py [--model ViT-B-32] [--image-size 224] [--world-size 64]
        [--batch-size 8] [--steps 5] [--warmup 2] [--precision fp32] [--workers 0]
        [--threads N] [--out DIR] [--json] [key=value ...]

1. Writes the first `batch * (warmup + steps)` images of a `shapes` world's train split
   (rendered at `--world-size` px) as PNG files plus an open_clip-style CSV (`filepath,title`).
2. Runs `python -m open_clip_train.main` (the training program shipped in the open-clip-torch
   wheel) on that CSV for one epoch, logging every step, and parses the samples/s of its log lines.
3. Runs `python -m mmcl train configs/clip_vitb32.yaml data.format=csv` on the same CSV with the
   same open_clip architecture (`model.image=open_clip model.text=open_clip`, no extra
   projection), batch and precision, and reads `samples_per_s` from its `metrics.jsonl`.
4. In this process: the matmul peak at the same precision, the FLOPs of one training step of
   each program's model (`FlopCounterMode`), mmcl's fraction of the peak, and the samples/s of
   mmcl's training loader alone.

Both programs are timed the same way: wall time per step including waiting for data, steady
state only (the first `warmup` steps, with their one-off start-up costs, are dropped). Both
resize the images to `--image-size` and build the tower for it (`--force-image-size` for
open_clip), so the image FLOPs match; mmcl drops caption padding before its text tower (see
`CausalTextTower`) while open_clip always runs 77 tokens, so their FLOPs per sample differ and
both are printed. open_clip's CSV reader needs pandas, which the `[bench]` extra installs
(`pip install -e ".[bench]"`); without it the bench stops at once with that one line.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import DTYPES, loader_samples_per_s, matmul_peak, step_flops  # noqa: E402

from mmcl.config import load_config  # noqa: E402
from mmcl.data.worlds import load_world  # noqa: E402
from mmcl.data.worlds.shapes import ShapesConfig  # noqa: E402
from mmcl.train.config import RunConfig  # noqa: E402
from mmcl.train.distributed import setup_runtime  # noqa: E402
from mmcl.train.trainer import Trainer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "clip_vitb32.yaml"
OPEN_CLIP_PRECISION = {"fp32": "fp32", "bf16": "amp_bf16"}  # autocast bf16, as mmcl's bf16
# open_clip: "Train Epoch: 0 [ 32/128 (25%)] Data (t): ... Batch (t): 1.234, 25.93/s, ..."
OPEN_CLIP_LINE = re.compile(r"Train Epoch: \d+ \[\s*(\d+)/\d+.*?Batch \(t\): [\d.]+, ([\d.e+-]+)/s")


# ---- data ----------------------------------------------------------------------------------
def world_config(args: argparse.Namespace) -> ShapesConfig:
    return ShapesConfig(image_size=args.world_size, n_train=args.batch_size * args.total_steps)


def write_csv(args: argparse.Namespace, folder: Path) -> Path:
    """The world's train split as PNGs + `train.csv` (absolute paths: open_clip opens them as
    given, relative to its working directory)."""
    split = load_world(world_config(args), "train", args.cache_dir or None)
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(len(split)):
        path = images_dir / f"{i:06d}.png"
        Image.fromarray(split.images[i].permute(1, 2, 0).numpy()).save(path)  # (H, W, 3) uint8
        rows.append({"filepath": str(path.resolve()), "title": split.captions[i]})
    table = folder / "train.csv"
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filepath", "title"])
        writer.writeheader()
        writer.writerows(rows)
    return table


# ---- the two training programs -------------------------------------------------------------
def steady_rate(rates: list[float], batch_size: int) -> float:
    """Samples/s over several steps from per-step rates: total samples over total seconds."""
    return len(rates) * batch_size / sum(batch_size / r for r in rates)


def open_clip_command(args: argparse.Namespace, table: Path, logs: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "open_clip_train.main",
        f"--train-data={table}",
        "--dataset-type=csv",
        "--csv-separator=,",
        "--csv-img-key=filepath",
        "--csv-caption-key=title",
        f"--model={args.model}",
        f"--force-image-size={args.image_size}",
        f"--batch-size={args.batch_size}",
        f"--precision={OPEN_CLIP_PRECISION[args.precision]}",
        f"--device={args.device}",
        f"--workers={args.workers}",
        "--epochs=1",
        "--lr=5e-4",
        "--wd=0.1",
        "--warmup=2",
        "--grad-clip-norm=1.0",  # mmcl's default train.grad_clip, so both steps do the same work
        "--log-every-n-steps=1",
        "--save-frequency=0",
        "--zeroshot-frequency=0",
        "--report-to=",
        f"--logs={logs}",
        "--name=open_clip",
        f"--seed={args.seed}",
    ]


def run_open_clip(args: argparse.Namespace, table: Path, folder: Path) -> dict:
    """open_clip's samples/s per logged step (one line per step), warm-up steps dropped."""
    command = open_clip_command(args, table, folder / "open_clip_logs")
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(args))
    wall = time.perf_counter() - start
    text = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"open_clip_train failed ({done.returncode}):\n{text[-3000:]}")
    by_step = {
        int(m.group(1)) // args.batch_size: float(m.group(2)) for m in OPEN_CLIP_LINE.finditer(text)
    }
    rates = [rate for step, rate in sorted(by_step.items()) if step > args.warmup]
    if not rates:
        raise SystemExit(f"no timed steps in open_clip's log:\n{text[-3000:]}")
    return {
        "samples_per_s": steady_rate(rates, args.batch_size),
        "timed_steps": len(rates),
        "wall_s": wall,
    }


def mmcl_overrides(args: argparse.Namespace, table: Path, run_dir: Path) -> list[str]:
    overrides = [
        f"name={run_dir.name}",
        f"out_dir={run_dir.parent}",
        f"model.open_clip_name={args.model}",
        "data.format=csv",  # the default columns and separator are open_clip's filepath,title
        f"data.path={table}",
        f"data.image_size={args.image_size}",
        f"data.num_workers={args.workers}",
        f"train.batch_size={args.batch_size}",
        f"train.steps={args.total_steps}",
        "train.warmup_steps=2",
        f"train.precision={args.precision}",
        f"train.device={args.device}",
        f"train.seed={args.seed}",
        "train.log_every=1",
        f"train.checkpoint_every={args.total_steps}",
        "train.progress=false",
        "eval.after_train=false",
    ]
    return overrides + list(args.override)


def run_mmcl(args: argparse.Namespace, table: Path, folder: Path) -> dict:
    """`mmcl train`'s samples/s from metrics.jsonl (one record per step), warm-up dropped."""
    run_dir = folder / "mmcl_run"
    command = [sys.executable, "-m", "mmcl", "train", str(BASE_CONFIG)]
    start = time.perf_counter()
    done = subprocess.run(
        command + mmcl_overrides(args, table, run_dir),
        capture_output=True,
        text=True,
        env=child_env(args),
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        text = done.stdout + done.stderr
        raise SystemExit(f"mmcl train failed ({done.returncode}):\n{text[-3000:]}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [r["samples_per_s"] for r in records if r["step"] > args.warmup]
    return {
        "samples_per_s": steady_rate(rates, args.batch_size),
        "timed_steps": len(rates),
        "wall_s": wall,
    }


def child_env(args: argparse.Namespace) -> dict[str, str]:
    """Both programs get the same thread count (and never a display or network)."""
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


# ---- in-process measurements ---------------------------------------------------------------
def mmcl_trainer(args: argparse.Namespace, table: Path, folder: Path) -> Trainer:
    overrides = mmcl_overrides(args, table, folder / "mmcl_probe")
    cfg = load_config(RunConfig, BASE_CONFIG, overrides)
    return Trainer(cfg, folder / "mmcl_probe", setup_runtime(args.device))


def open_clip_step_flops(args: argparse.Namespace, batch_images: torch.Tensor) -> float:
    """FLOPs of one open_clip forward+backward (loss included) on a batch of 77-token captions."""
    import open_clip

    model = open_clip.create_model(
        args.model, pretrained=None, force_image_size=args.image_size, output_dict=True
    )
    loss = open_clip.ClipLoss()
    texts = torch.randint(1, 1000, (batch_images.shape[0], 77))  # (B, 77): open_clip never trims
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    with (
        FlopCounterMode(display=False) as counter,
        torch.autocast("cpu", dtype=dtype, enabled=args.precision == "bf16"),
    ):
        out = model(batch_images, texts)
        loss(out["image_features"], out["text_features"], out["logit_scale"]).backward()
    return float(counter.get_total_flops())


def measure_in_process(args: argparse.Namespace, table: Path, folder: Path) -> dict:
    device = setup_runtime(args.device).device
    peak = matmul_peak(DTYPES[args.precision], device, args.peak_size, args.peak_call_s)
    trainer = mmcl_trainer(args, table, folder)
    loader_rate = loader_samples_per_s(trainer, args.steps)
    batch = next(iter(trainer._epoch_loader()))
    mmcl_flops, source = step_flops(trainer, batch)
    del trainer
    open_clip_flops = open_clip_step_flops(args, batch.images)
    return {
        "peak_flops_per_s": peak["flops_per_s"],
        "peak_matmul_size": peak["size"],
        "loader_samples_per_s": loader_rate,
        "mmcl_gflop_per_sample": mmcl_flops / args.batch_size / 1e9,
        "mmcl_flop_source": source,
        "open_clip_gflop_per_sample": open_clip_flops / args.batch_size / 1e9,
    }


# ---- driver --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture, both sides")
    parser.add_argument("--image-size", type=int, default=224, help="model input px, both sides")
    parser.add_argument("--world-size", type=int, default=64, help="rendered px: 32 or 64")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--precision", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--workers", type=int, default=0, help="loader workers, both programs")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS (0: inherit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="", help="world cache (default $MMCL_CACHE)")
    parser.add_argument("--out", default="", help="keep data and logs here (default: temp)")
    parser.add_argument("--peak-size", type=int, default=2048, help="largest matmul size")
    parser.add_argument("--peak-call-s", type=float, default=1.0, help="max seconds per matmul")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("override", nargs="*", help="extra key=value overrides for mmcl train")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be >= 1 (the first step holds start-up costs)")
    args.total_steps = args.warmup + args.steps
    return args


def compare(args: argparse.Namespace, folder: Path) -> dict:
    table = write_csv(args, folder / "data")
    open_clip = run_open_clip(args, table, folder)
    mmcl = run_mmcl(args, table, folder)
    probe = measure_in_process(args, table, folder)
    achieved = mmcl["samples_per_s"] * probe["mmcl_gflop_per_sample"] * 1e9
    return {
        "config": {k: v for k, v in vars(args).items() if k != "override"},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threads": torch.get_num_threads(),
        "open_clip": open_clip,
        "mmcl": mmcl,
        "ratio_mmcl_over_open_clip": mmcl["samples_per_s"] / open_clip["samples_per_s"],
        "mmcl_fraction_of_peak": achieved / probe["peak_flops_per_s"],
        "open_clip_fraction_of_peak": open_clip["samples_per_s"]
        * probe["open_clip_gflop_per_sample"]
        * 1e9
        / probe["peak_flops_per_s"],
        **probe,
    }


def print_report(report: dict) -> None:
    c = report["config"]
    print(
        f"{c['model']} at {c['image_size']} px (shapes world rendered at {c['world_size']} px, "
        f"read from CSV by both), batch {c['batch_size']}, {c['precision']}, "
        f"{c['device']}, {c['steps']} timed steps after {c['warmup']}; "
        f"load average {report['load_average']}"
    )
    print(
        f"matmul peak ({c['precision']}): {report['peak_flops_per_s'] / 1e12:.4f} TFLOP/s "
        f"(size {report['peak_matmul_size']})"
    )
    for name in ("open_clip", "mmcl"):
        gflop = report[f"{name}_gflop_per_sample"]
        print(
            f"{name:>10s}: {report[name]['samples_per_s']:8.2f} samples/s "
            f"({report[name]['timed_steps']} steps, {gflop:.2f} GFLOP/sample, "
            f"{report[f'{name}_fraction_of_peak']:.1%} of peak; run took "
            f"{report[name]['wall_s']:.0f} s)"
        )
    print(f"mmcl / open_clip: {report['ratio_mmcl_over_open_clip']:.2f}x")
    print(f"mmcl loader alone: {report['loader_samples_per_s']:.0f} samples/s")


def require_bench_extra() -> None:
    """Stop with one line before any work if open_clip_train's CSV reader cannot import pandas.

    The README's `pip install -e ".[test]"` does not install it, and open_clip_train would
    otherwise fail minutes later, deep in its trainer, with `No module named 'pandas'`.
    """
    if importlib.util.find_spec("pandas") is None:
        raise SystemExit(
            "bench/vs_open_clip.py needs pandas for open_clip's CSV reader: "
            'pip install -e ".[bench]"'
        )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    require_bench_extra()
    logging.basicConfig(level=logging.ERROR)  # open_clip warns of random init on every build
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mmcl_vs_open_clip_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        report = compare(args, folder)
    finally:
        if not args.out:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return report


if __name__ == "__main__":
    main()
