"""`mmcl results export RESULTS.json --format clip_benchmark --out DIR`: mmcl's results in
another tool's names and files."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmcl.io import output_folder

FORMATS = ("clip_benchmark",)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("results", help="convert results files (to CLIP_benchmark's JSON)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write a results.json in CLIP_benchmark's format, one JSON per split and task",
        description="Zero-shot classification, linear probe and retrieval records become "
        "CLIP_benchmark outputs (acc1, acc5, mean_per_class_recall, "
        "image_retrieval_recall@k, text_retrieval_recall@k); other records have no "
        "CLIP_benchmark name and are left out.",
    )
    export.add_argument("results", help="an mmcl results.json")
    export.add_argument("--format", choices=FORMATS, default="clip_benchmark")
    export.add_argument("--out", help="folder (default: beside RESULTS, clip_benchmark/)")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    path = Path(args.results)  # --out is checked before the library loads
    out = output_folder(path.parent / "clip_benchmark" if args.out is None else args.out, "--out")

    from mmcl.errors import MMCLError
    from mmcl.eval.clip_benchmark import to_clip_benchmark, write_clip_benchmark
    from mmcl.eval.tasks import read_results

    results = read_results(path)
    documents = to_clip_benchmark(results["records"], results["meta"])
    if not documents:
        raise MMCLError(
            f"{path}: no zero-shot, linear-probe or retrieval records to export "
            "(CLIP_benchmark has no names for the others)"
        )
    written = write_clip_benchmark(documents, out)
    print(f"wrote {len(written)} CLIP_benchmark files to {out}")
    return 0
