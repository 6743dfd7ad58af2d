"""Throughput of the `shapes` renderer (images/s at 32 and 64 px) and of SimCLR views (views/s).

    python bench/bench_render.py [--n 8192] [--threads 1]

Renders the `train` split law without the disk cache. `--threads` sets torch's thread count for
the view augmentation (DataLoader workers run one thread each); numpy rendering is one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mmcl.data.augment import simclr_view_transform
from mmcl.data.worlds import render
from mmcl.data.worlds.shapes import SHIFTS, ShapesConfig, render_images, sample_attributes


def images_per_second(image_size: int, n: int) -> float:
    """Render n training-law images once (after a warm-up that fills the template caches)."""
    cfg = ShapesConfig(image_size=image_size)
    rng = np.random.default_rng(0)
    attributes = sample_attributes(cfg, SHIFTS["train"], n, rng)
    jitter = rng.random((n, len(render.JITTER)))
    render_images({k: v[:8] for k, v in attributes.items()}, jitter[:8], image_size)
    start = time.perf_counter()
    render_images(attributes, jitter, image_size)
    return n / (time.perf_counter() - start)


def views_per_second(image_size: int, n: int) -> float:
    images = torch.randint(0, 256, (n, 3, image_size, image_size), dtype=torch.uint8)
    transform = simclr_view_transform(image_size)
    transform(images[:8])
    start = time.perf_counter()
    for chunk in images.split(256):
        transform(chunk)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="images per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for views")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for size in (32, 64):
        results[f"render_{size}px_images_per_s"] = images_per_second(size, args.n)
        results[f"views_{size}px_per_s"] = views_per_second(size, args.n)
    for name, value in results.items():
        print(f"{name:28s} {value:10.0f}")
    return results


if __name__ == "__main__":
    main()
