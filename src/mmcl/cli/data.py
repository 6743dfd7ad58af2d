"""`mmcl data inspect WORLD`: a PNG grid of samples with their captions, and split statistics."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from mmcl.config import load_config
from mmcl.train.config import DataConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="inspect built-in worlds")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    inspect = actions.add_parser("inspect", help="write a PNG grid of samples with captions")
    inspect.add_argument("world", help="built-in world name (shapes)")
    inspect.add_argument("overrides", nargs="*", help="data config overrides, e.g. shapes.seed=1")
    inspect.add_argument("--split", default="train", help="split to show (train, id, sketch, ...)")
    inspect.add_argument("--n", type=int, default=16, help="number of samples")
    inspect.add_argument("--out", default=None, help="PNG path (default WORLD_SPLIT.png)")
    inspect.set_defaults(func=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    from mmcl.data.inspect import write_sample_grid
    from mmcl.train.data import load_split

    cfg = load_config(DataConfig, None, [f"world={args.world}", *args.overrides])
    split = load_split(cfg, args.split)
    out = Path(args.out or f"{args.world}_{args.split}.png")
    write_sample_grid(split, out, n=args.n)
    words = Counter(len(caption.split()) for caption in split.captions)
    mean_words = sum(k * v for k, v in words.items()) / len(split.captions)
    print(
        f"{args.world}/{args.split}: {len(split)} images at {split.image_size} px, "
        f"{len(split.class_names)} classes, captions {mean_words:.1f} words on average"
    )
    for caption in split.captions[:5]:
        print(f"  {caption}")
    print(f"wrote {out}")
    return 0
