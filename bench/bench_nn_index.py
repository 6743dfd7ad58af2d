"""Dataset-level resampling: nearest-neighbour index build time vs training time (ratio printed).

    python bench/bench_nn_index.py [--n-train 4000] [--width 8] [--batch-size 128] [--k 5]
        [--steps 150] [--time-steps 5] [--teacher-run RUN_DIR] [--backend auto] [--json]
        [--synthetic 100000 --dim 512]

The index of `method.resampling.neighbours=index` is built once before training: one teacher
forward over every clean training image, then an exact k-NN search (faiss when installed, else a
chunked torch matmul). This script times both on the shapes world, times `--time-steps` real
training steps of `resampled_simclr` on the partner-view data (the step `mmcl train`
runs), extrapolates to `--steps`, and prints index / training. The teacher is `--teacher-run`
(an mmcl CLIP run) or, by default, a freshly initialised CLIP of the same size: the timing does
not depend on the weights. `--synthetic N` also times the search alone on N random D-dim
features (ImageNet scale: 126,689 x 512). Numbers from a loaded machine are pessimistic; the
load average is printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from mmcl.config import load_config
from mmcl.methods.resampled_simclr import embed_split
from mmcl.methods.teachers import Teacher
from mmcl.models.model import build_model
from mmcl.nn_index import build_neighbours
from mmcl.runs.teachers import ClipRunTeacher
from mmcl.train.config import RunConfig
from mmcl.train.distributed import setup_runtime
from mmcl.train.trainer import Trainer


class FreshClipTeacher(Teacher):
    """A randomly initialised mmcl CLIP image tower (same cost as a trained one)."""

    def __init__(self, cfg: RunConfig, image_size: int) -> None:
        self.model = build_model(cfg.model, image_size, with_text=False).eval()

    def _embed(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(images)


def run_config(args: argparse.Namespace, cache: str) -> RunConfig:
    return load_config(RunConfig, None, [
        f"data.shapes.n_train={args.n_train}", "data.shapes.n_test=10", f"data.cache_dir={cache}",
        f"model.width={args.width}", "model.embed_dim=64", f"train.batch_size={args.batch_size}",
        "train.progress=false", "method.name=resampled_simclr",
        "method.resampling.teacher=label_oracle", "method.resampling.neighbours=index",
        f"method.resampling.index_k={args.k}", f"train.steps={args.time_steps}",
        f"train.checkpoint_every={10 ** 9}",
    ])  # fmt: skip


def time_training_steps(trainer: Trainer, steps: int) -> float:
    """Seconds per optimizer step of the real loop (first step excluded: warm-up)."""
    loader = iter(trainer._epoch_loader())
    trainer._step(trainer.method, next(loader))
    start = time.perf_counter()
    for _ in range(steps):
        trainer._step(trainer.method, next(loader))
    return (time.perf_counter() - start) / steps


def bench_world(args: argparse.Namespace, run_dir: Path, cache: str) -> dict:
    cfg = run_config(args, cache)
    trainer = Trainer(cfg, run_dir, setup_runtime("cpu"))
    split = trainer.dataset.split
    teacher = (ClipRunTeacher(args.teacher_run) if args.teacher_run
               else FreshClipTeacher(cfg, split.image_size))  # fmt: skip
    trainer.method._teacher = teacher
    start = time.perf_counter()
    features = embed_split(teacher, split)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    neighbours = build_neighbours(features, args.k, args.backend)
    search_s = time.perf_counter() - start
    # both again, as the trainer does when it asks the method for its dataset
    trainer.dataset = trainer.method.training_dataset(cfg, split, trainer.dataset)
    neighbours, total_s = trainer.method.neighbours, trainer.method.index_seconds
    step_s = time_training_steps(trainer, args.time_steps)
    train_s = step_s * args.steps
    return {
        "n_train": len(split), "backend": neighbours.backend, "k": args.k,
        "teacher_embed_s": embed_s, "search_s": search_s, "index_total_s": total_s,
        "train_step_s": step_s, "train_steps": args.steps, "train_s_estimate": train_s,
        "ratio_index_over_training": total_s / train_s,
        "ratio_index_over_one_epoch": total_s / (step_s * max(1, len(split) // args.batch_size)),
    }  # fmt: skip


def bench_synthetic(n: int, dim: int, k: int, backend: str) -> dict:
    features = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    result = build_neighbours(features, k, backend)
    return {"n": n, "dim": dim, "backend": result.backend, "search_s": time.perf_counter() - start}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--steps", type=int, default=150, help="training steps to compare against")
    p.add_argument("--time-steps", type=int, default=5, help="steps actually timed")
    p.add_argument("--teacher-run", default="", help="mmcl CLIP run folder (default: fresh CLIP)")
    p.add_argument("--backend", default="auto", choices=("auto", "faiss", "torch"))
    p.add_argument("--synthetic", type=int, default=0, help="also time N random features")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.environ.get("MMCL_CACHE", str(Path(tmp) / "cache"))
        result = {"load_average": os.getloadavg(), "world": bench_world(args, Path(tmp), cache)}
    if args.synthetic:
        result["synthetic"] = bench_synthetic(args.synthetic, args.dim, args.k, args.backend)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    w = result["world"]
    print(f"load average {result['load_average'][0]:.1f}; {w['n_train']} images, {w['backend']}")
    print(f"index: teacher pass {w['teacher_embed_s']:.2f} s + search {w['search_s']:.3f} s "
          f"(total as trained {w['index_total_s']:.2f} s)")  # fmt: skip
    print(f"training: {w['train_step_s']:.3f} s/step x {w['train_steps']} = "
          f"{w['train_s_estimate']:.1f} s")  # fmt: skip
    print(f"ratio index / training = {w['ratio_index_over_training']:.4f} "
          f"(index / one epoch = {w['ratio_index_over_one_epoch']:.4f})")  # fmt: skip
    if args.synthetic:
        s = result["synthetic"]
        print(f"search alone on {s['n']} x {s['dim']} random features ({s['backend']}): "
              f"{s['search_s']:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
