"""`mmcl results export RESULTS.json --format clip_benchmark --out DIR`: mmcl's results in
another tool's names and files."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmcl.errors import MMCLError
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
        "image_retrieval_recall@k, text_retrieval_recall@k), named as CLIP_benchmark names "
        "them: dataset (imagenet1k, imagenetv2, imagenet-r...), model (the architecture, "
        "e.g. ViT-B-32 or local-dir:DIR) and pretrained (the checkpoint). OUT/reproduce/ holds "
        "the prompts scored as CLIP_benchmark's --custom_template_file and "
        "--custom_classname_file read them, and mmcl_provenance.json: each output's data "
        "folder, split, sample count, precision and preprocessing. Other records have no "
        "CLIP_benchmark name and are left out.",
    )
    export.add_argument("results", help="an mmcl results.json")
    export.add_argument("--format", choices=FORMATS, default="clip_benchmark")
    export.add_argument("--out", help="folder (default: beside RESULTS, clip_benchmark/)")
    export.add_argument(
        "--model-dir",
        help="for a run trained here: the open_clip folder `mmcl export RUN --out DIR` wrote; "
        "outputs then name their model local-dir:DIR, which open_clip and CLIP_benchmark load "
        "with its weights (default: the architecture and the mmcl checkpoint scored)",
    )
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    path = Path(args.results)  # --out is checked before the library loads
    out = output_folder(path.parent / "clip_benchmark" if args.out is None else args.out, "--out")
    model_dir = Path(args.model_dir).resolve() if args.model_dir else None
    if model_dir is not None and not (model_dir / "open_clip_config.json").is_file():
        raise MMCLError(
            f"--model-dir {args.model_dir}: no open_clip_config.json there; give the folder "
            "`mmcl export RUN --out DIR` wrote"
        )

    from mmcl.eval.clip_benchmark import (
        INPUTS_DIR,
        TEMPLATES_FILE,
        export_clip_benchmark,
        to_clip_benchmark,
    )
    from mmcl.eval.tasks import read_results

    results = read_results(path)
    documents = to_clip_benchmark(results["records"], results["meta"])
    if not documents:
        raise MMCLError(
            f"{path}: no zero-shot, linear-probe or retrieval records to export "
            "(CLIP_benchmark has no names for the others)"
        )
    written = export_clip_benchmark(results, out, str(path), model_dir)
    print(f"wrote {len(documents)} CLIP_benchmark outputs to {out}, what they scored to "
          f"{out / INPUTS_DIR}")  # fmt: skip
    zeroshot = any(d["task"] == "zeroshot_classification" for d in documents)
    if zeroshot and out / INPUTS_DIR / TEMPLATES_FILE not in written:
        print(f"{path} names no prompts (scored before mmcl recorded them); run `mmcl eval` "
              "again to export them")  # fmt: skip
    return 0
