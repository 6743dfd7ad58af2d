"""`mmcl repro PAPER --scale tiny|small|paper`: rerun a paper's experiments, print its claims.

Each paper registers a run function `(scale, seeds, out_dir) -> {"claims": [...], ...}` in
`PAPERS` (an optional "note" is printed under the text table). The claims table has one row per
claim: the paper's stated figure or direction, ours, and whether it held (decided from the run's
numbers). `--json` prints only the claims, as a JSON list of {id, statement, paper, ours, held};
progress and logging go to stderr.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.registry import Registry, unknown_name_message

log = logging.getLogger("mmcl")

SCALES = ("tiny", "small", "paper")
CLAIM_KEYS = ("id", "statement", "paper", "ours", "held")
RunFn = Callable[[str, "int | None", Path], dict[str, Any]]
PAPERS: Registry[RunFn] = Registry("paper")


@PAPERS.register("xue2024")
def _xue2024(
    scale: str, seeds: int | None, out_dir: Path, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Xue et al. 2024, robustness of multimodal contrastive learning (arXiv 2310.04971)."""
    from mmcl.experiments import xue2024

    return xue2024.run(scale, seeds, out_dir, overrides)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "repro",
        help="rerun a paper's experiments and print its claims table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paper", help=f"paper to reproduce ({', '.join(PAPERS.names())})")
    p.add_argument("--scale", choices=SCALES, default="tiny", help="size preset (default tiny)")
    p.add_argument(
        "--seeds", type=int, default=None, help="number of seeds (0..N-1); default: the scale's own"
    )
    p.add_argument("--out", default=None, help="output folder (default runs/repro_PAPER_SCALE)")
    p.add_argument("--json", action="store_true", help="print only the claims, as JSON")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run-config override for the paper's training runs, repeatable (papers that take "
        "them: xue2024, e.g. --set data.format=coco --set data.path=captions_train2017.json)",
    )
    p.set_defaults(func=run_repro)


def paper_runner(name: str) -> RunFn:
    """The registered run function, or an MMCLError naming the nearest paper."""
    if name not in PAPERS:
        raise MMCLError(unknown_name_message("paper", name, PAPERS.names()))
    return PAPERS.get(name)


def claims_text(claims: Sequence[dict], width: int = 50) -> str:
    """Fixed-width table: claim id, paper, ours, held (long cells are cut with '~')."""

    def cell(text: str, size: int) -> str:
        text = str(text)
        return (text if len(text) <= size else text[: size - 1] + "~").ljust(size)

    id_width = max([len("claim"), *(len(c["id"]) for c in claims)])
    lines = [f"{cell('claim', id_width)}  {cell('paper', width)}  {cell('ours', width)}  held"]
    lines.append("-" * len(lines[0]))
    for c in claims:
        held = "held" if c["held"] else "NOT HELD"
        lines.append(
            f"{cell(c['id'], id_width)}  {cell(c['paper'], width)}  {cell(c['ours'], width)}  "
            f"{held}"
        )
    return "\n".join(lines)


def run_repro(args: argparse.Namespace) -> int:
    runner = paper_runner(args.paper)
    if args.seeds is not None and args.seeds < 1:
        raise MMCLError(f"--seeds {args.seeds}: give a number of seeds >= 1")
    out = Path(args.out or f"runs/repro_{args.paper}_{args.scale}")
    log.info("repro %s at scale %s -> %s", args.paper, args.scale, out)
    if args.overrides:
        if "overrides" not in inspect.signature(runner).parameters:
            raise MMCLError(f"mmcl repro {args.paper} takes no --set overrides")
        result = runner(args.scale, args.seeds, out, overrides=args.overrides)
    else:
        result = runner(args.scale, args.seeds, out)
    claims = result["claims"]
    if args.json:
        print(json.dumps([{k: c[k] for k in CLAIM_KEYS} for c in claims], indent=1))
        return 0
    print(claims_text(claims))
    if result.get("note"):
        print(f"\n{result['note']}")
    held = sum(bool(c["held"]) for c in claims)
    print(
        f"\n{held}/{len(claims)} claims held; results in {out / 'results.json'}, "
        f"report {out / 'report.html'}"
    )
    return 0


@PAPERS.register("mcl2024")
def _mcl2024(scale: str, seeds: int | None, out_dir: Path) -> dict[str, Any]:
    """MCL, Zhang et al. 2024, multistage contrastive learning (arXiv 2402.11816)."""
    from mmcl.experiments import mcl2024

    return mcl2024.run(scale, seeds, out_dir)


@PAPERS.register("fang2022")
def _fang2022(scale: str, seeds: int | None, out_dir: Path) -> dict[str, Any]:
    """Fang et al. 2022, data determines distributional robustness in CLIP (arXiv 2205.01397)."""
    from mmcl.experiments import fang2022

    return fang2022.run(scale, seeds, out_dir)


@PAPERS.register("zhang2023")
def _zhang2023(scale: str, seeds: int | None, out_dir: Path) -> dict[str, Any]:
    """Zhang, Wang & Wang 2023, generalization of multimodal contrastive learning (2306.04272)."""
    from mmcl.experiments import zhang2023

    return zhang2023.run(scale, seeds, out_dir)
