"""`mmcl data make WORLD`, `mmcl data inspect WORLD|PATH` and `mmcl data check PATH`.

`make` writes built-in world splits to disk as CSV, COCO captions, ImageFolder or webdataset
shards, so every reader can be run end to end on known data; or as CLIP_benchmark's datasets
(`--format clip_benchmark`, one per test split), so a model exported from mmcl can be scored by
CLIP_benchmark on the images and prompts mmcl scores it on. `inspect` writes a PNG grid of
samples with their captions and prints statistics, for a world or any dataset on disk. `check`
reads every sample of a dataset once and reports the bad ones, before a long job trains on it.
A dataset path's format is inferred from the path (`mmcl.data.formats.detect`); `--format`
overrides it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from mmcl.cli.options import int_in, names
from mmcl.config import check_choice, load_config
from mmcl.data.formats.detect import infer_format, is_pattern
from mmcl.errors import MMCLError
from mmcl.io import output_file, output_folder

if TYPE_CHECKING:
    from mmcl.data.config import DataConfig

CLIP_BENCHMARK = "clip_benchmark"  # the writer of CLIP_benchmark's datasets (one per split)
MAX_GRID = 256  # samples in one inspect grid: a 16 x 16 figure is already 35 inches wide


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="write built-in worlds to disk, inspect datasets")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = actions.add_parser(
        "make",
        help="write world splits as csv / coco / imagefolder / webdataset / clip_benchmark",
        description="e.g. `mmcl data make shapes --out data/shapes --format webdataset`; then "
        "train with data.format=webdataset data.path='data/shapes/train-{000000..000009}.tar'. "
        "--format clip_benchmark writes OUT/<split> as CLIP_benchmark datasets and prints the "
        "clip_benchmark command scoring an export on them",
    )
    make.add_argument("world", help="registered world name (shapes)")
    make.add_argument("overrides", nargs="*", help="data config overrides, e.g. shapes.n_train=512")
    make.add_argument("--out", required=True, help="output folder")
    make.add_argument(
        "--format",
        required=True,
        help="a registered writer: csv, coco, imagefolder, webdataset, clip_benchmark",
    )
    make.add_argument(
        "--splits",
        type=names,
        default=None,
        help="comma-separated splits to write (default train,id; for clip_benchmark every test "
        "split of the world)",
    )
    make.add_argument("--image-format", default="png", choices=("png", "jpg", "webp"))
    make.add_argument(
        "--shard-size", type=int_in(1, 10**7), default=1000, help="webdataset samples per tar"
    )
    make.set_defaults(func=run_make)

    inspect = actions.add_parser("inspect", help="write a PNG grid of samples with captions")
    inspect.add_argument("world", help="registered world name (shapes), or a dataset path")
    inspect.add_argument("overrides", nargs="*", help="data config overrides, e.g. shapes.seed=1")
    inspect.add_argument(
        "--format",
        default=None,
        help="world, or how to read a dataset path: csv, coco, webdataset, imagefolder, "
        "imagenet_captions or another registered reader (default: inferred from it)",
    )
    inspect.add_argument("--split", default="train", help="world split to show (train, id, ...)")
    inspect.add_argument(
        "--n", type=int_in(1, MAX_GRID), default=16, help=f"number of samples (1 to {MAX_GRID})"
    )
    inspect.add_argument("--out", default=None, help="PNG path (default NAME_SPLIT.png)")
    inspect.set_defaults(func=run_inspect)

    check = actions.add_parser(
        "check",
        help="read every sample once and report bad ones, before a long job",
        description="e.g. `mmcl data check data/train.csv`: counts, bad samples by source "
        "(file:line, shard:key) and reason, caption lengths, class coverage, image sizes; "
        "exits non-zero when the bad samples exceed data.max_bad_fraction, as training would",
    )
    check.add_argument(
        "path",
        help="CSV/TSV file, COCO captions JSON, shards, class folders; or a world (shapes, "
        "fashion): its gates",
    )
    check.add_argument(
        "overrides", nargs="*", help="data config overrides, e.g. csv.caption_key=caption"
    )
    check.add_argument(
        "--format", default=None, help="a data format, as data.format (default: inferred)"
    )
    check.add_argument("--workers", type=int, default=4, help="threads decoding images")
    check.add_argument("--show", type=int, default=20, help="bad samples listed one per line")
    check.add_argument(
        "--learnability",
        action="store_true",
        help="`mmcl data check WORLD`: also train the supervised learnability gate (shapes ~1 "
        "min, fashion a few)",
    )
    check.add_argument(
        "--gate-out", default="runs/gate", help="where the learnability gate's runs are cached"
    )
    check.set_defaults(func=run_check)


def run_make(args: argparse.Namespace) -> int:
    out = output_folder(args.out, "--out")  # before the library loads

    from mmcl.data.formats.clip_benchmark import clip_benchmark_command
    from mmcl.data.formats.writers import WRITERS, WriteOptions, shard_pattern, writer_formats
    from mmcl.data.sources import load_split

    check_choice("--format", args.format, writer_formats())
    cfg = _data_config([f"world={args.world}", *args.overrides])
    splits = args.splits or default_splits(args.format, cfg.world)
    options = WriteOptions(args.image_format, args.shard_size)
    for name in splits:
        split = load_split(cfg, name)
        paths = WRITERS.get(args.format)(split, out, options)
        where = shard_pattern(paths) if args.format == "webdataset" else str(paths[0])
        print(f"{args.world}/{name}: {len(split)} images -> {where}")
    if args.format == CLIP_BENCHMARK:
        command = clip_benchmark_command("local-dir:EXPORT", out, splits)
        print(f"score an `mmcl export` folder EXPORT on them: {command}")
    return 0


def default_splits(fmt: str, world: str) -> list[str]:
    """The splits `data make` writes without --splits: train and id for training formats; for
    a benchmark, every split the world is tested on (each is a dataset of its own there)."""
    if fmt != CLIP_BENCHMARK:
        return ["train", "id"]
    from mmcl.data.worlds import get_world

    return [name for name in get_world(world)[0].splits if name != "train"]


def run_inspect(args: argparse.Namespace) -> int:
    out = inspect_out(args)  # before the library loads

    from mmcl.data.formats.bad_data import BadDataLog
    from mmcl.data.inspect import write_sample_grid
    from mmcl.data.sources import load_split, preview_split

    fmt = args.format
    if fmt is None and not Path(args.world).exists() and not is_pattern(args.world):
        from mmcl.data.worlds import WORLDS

        if args.world not in WORLDS:
            raise MMCLError(
                f"{args.world!r} is neither a registered world ({', '.join(WORLDS)}) nor an "
                "existing dataset path"
            )
        fmt = "world"
    if fmt == "world":
        cfg = _data_config([f"world={args.world}", *args.overrides])
        split, name = load_split(cfg, args.split), f"{args.world}/{args.split}"
    else:
        cfg = dataset_config(args.world, fmt, args.overrides)
        bad = BadDataLog(max_fraction=1.0, what=args.world)
        split, name = preview_split(cfg, args.n, bad), args.world
        if bad.bad:
            print(f"{bad.summary()}: {', '.join(bad.by_source)}")
    write_sample_grid(split, out, n=args.n)
    words = Counter(len(caption.split()) for caption in split.captions)
    mean_words = sum(k * v for k, v in words.items()) / len(split.captions)
    print(
        f"{name}: {len(split)} images shown at {split.image_size} px, "
        f"{len(split.class_names)} classes, captions {mean_words:.1f} words on average"
    )
    for caption in split.captions[:5]:
        print(f"  {caption}")
    print(f"wrote {out}")
    return 0


def inspect_out(args: argparse.Namespace) -> Path:
    """`data inspect`'s PNG path, checked before any sample is read: --out, else NAME_SPLIT.png
    in the current folder (NAME: the world, or the last part of the dataset path)."""
    if args.out is not None:
        return output_file(args.out, "--out", "grid.png")
    stem = Path(args.world).name or "data"
    return output_file(f"{stem}_{args.split}.png", "--out (default)", "grid.png")


def dataset_config(path: str, fmt: str | None, overrides: list[str]) -> DataConfig:
    """The data config reading `path`, in `fmt` or the format inferred from the path."""
    implied: list[str] = []
    if fmt is None:
        fmt, implied = infer_format(path)
    return _data_config([*implied, f"format={fmt}", f"path={path}", *overrides])


def run_world_gate(args: argparse.Namespace) -> int:
    """`mmcl data check WORLD`: the world's own gate (a) (shapes: its silhouettes differ;
    fashion: its files hold the published images) and, with --learnability, gate (b)."""
    from mmcl.data.worlds import get_world

    world, cfg = get_world(_data_config(["format=world", f"world={args.path}",
                                         *args.overrides]).world_config())  # fmt: skip
    failed = []
    if world.sanity is not None:
        check = world.sanity(cfg)
        print("\n".join(check.lines))
        failed += check.failures
    if args.learnability:
        from mmcl.experiments.calibrated import BUDGET, WORLD_GATES, learnability_gate

        spec = WORLD_GATES[world.name]
        gate = learnability_gate(Path(args.gate_out), budget=[*BUDGET, *spec.overrides])
        low, high = gate["interval"]
        anchor = f" ({spec.anchor})" if spec.anchor else ""
        print(
            f"gate (b): {gate['statement']}{anchor}: mean {100 * gate['mean']:.1f}% "
            f"[{100 * low:.1f}, {100 * high:.1f}], per seed "
            f"{', '.join(f'{100 * v:.1f}' for v in gate['per_seed'])}: "
            f"{'passed' if gate['passed'] else 'FAILED'}"
        )
        if not gate["passed"]:
            failed.append(f"(b) supervised reaches {100 * gate['mean']:.1f}% on id")
    if failed:
        raise MMCLError(f"the {args.path} world fails its gate: {'; '.join(failed)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from mmcl.data.check import check_dataset
    from mmcl.data.worlds import WORLDS

    if args.path in WORLDS and not Path(args.path).exists():
        return run_world_gate(args)
    cfg = dataset_config(args.path, args.format, args.overrides)
    report = check_dataset(cfg, max(1, args.workers))
    print("\n".join(report.lines(cfg.image_size, max(0, args.show))))
    report.tally(cfg.max_bad_fraction).check()  # past the limit: an MMCLError, exit status 2
    print(f"ok: bad samples within data.max_bad_fraction={cfg.max_bad_fraction:g}")
    return 0


def _data_config(overrides: list[str]) -> DataConfig:
    """`DataConfig` from overrides; imported on use, as the worlds behind it load torch."""
    from mmcl.data.config import DataConfig

    return load_config(DataConfig, None, overrides)
