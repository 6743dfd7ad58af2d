"""`mmcl export RUN --format open_clip --out DIR`: a trained run as an open_clip model folder,
with a README.md and mmcl_export.json saying how to load it (`local-dir:DIR`). Where open_clip
would build the architecture named at another image size, and so load the export quietly as
another model, a one-line warning on stderr says so and what to do instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmcl.errors import MMCLError
from mmcl.io import output_folder

FORMATS = ("open_clip",)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a trained run's model in another library's layout (open_clip)",
        description="Writes DIR/open_clip_config.json and DIR/open_clip_model.safetensors, and "
        "DIR/README.md and DIR/mmcl_export.json on loading them: open_clip loads them with "
        "create_model_and_transforms('local-dir:DIR'), and so does CLIP_benchmark (--model "
        "local-dir:DIR); not by architecture name, which builds the architecture's own image "
        "size.",
    )
    p.add_argument("run", help="run folder trained with model.image=open_clip model.text=open_clip")
    p.add_argument("--format", choices=FORMATS, default="open_clip")
    p.add_argument("--out", help="output folder (default RUN/export_open_clip)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    run = Path(args.run)  # --out is checked before the library loads
    out = output_folder(run / "export_open_clip" if args.out is None else args.out, "--out")

    from mmcl.models.open_clip_model import OpenCLIPModel, export_open_clip, misload_warning
    from mmcl.runs.training import load_trained

    _, method = load_trained(run)
    if not isinstance(method.model, OpenCLIPModel):
        raise MMCLError(
            f"{run}: its model is mmcl's own assembly ({type(method.model).__name__}), which has "
            "no open_clip architecture; train with model.image=open_clip model.text=open_clip "
            "model.open_clip_name=NAME to export"
        )
    out = export_open_clip(method.model, out, source=str(run))
    print(f"wrote {out}: open_clip.create_model_and_transforms('local-dir:{out}')")
    warning = misload_warning(method.model, out)
    if warning:
        print(f"mmcl export: warning: {warning}", file=sys.stderr)
    return 0
