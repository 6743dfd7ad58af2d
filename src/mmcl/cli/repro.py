"""`mmcl repro PAPER --scale tiny|small|paper`: rerun a paper's experiments, print its claims.

Every claim is decided over several seeds by a rule fixed in the paper's package before the run,
with a 95% interval that holds seed and test-sample variance (`mmcl.stats`), and gets one of three
verdicts: held, not held or inconclusive. Exact identities and closed-form checks are listed apart,
under checks, with their tolerance. `--json` prints {"paper", "scale", "claims", "checks"}, each
claim with its verdict, interval, n_seeds and rule; progress and logging go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from mmcl.cli.options import add_set_option
from mmcl.errors import MMCLError
from mmcl.experiments.registry import PAPERS, SCALES, paper_runner, run_paper
from mmcl.stats import HELD, NOT_HELD, verdict_counts

log = logging.getLogger("mmcl")

CLAIM_KEYS = ("id", "statement", "paper", "ours", "verdict", "interval", "n_seeds", "rule")
VERDICT_TEXT = {HELD: "held", NOT_HELD: "NOT HELD"}  # inconclusive prints as itself


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
    p.add_argument("--json", action="store_true", help="print only claims and checks, as JSON")
    add_set_option(
        p,
        "run-config override for the paper's training runs, repeatable "
        "(e.g. --set train.steps=500; xue2024 also reads real captions with "
        "--set data.format=coco --set data.path=captions_train2017.json)",
    )
    p.set_defaults(func=run_repro)


def _cell(text: object, size: int) -> str:
    text = str(text)
    return (text if len(text) <= size else text[: size - 1] + "~").ljust(size)


def claims_text(claims: Sequence[dict], width: int = 50) -> str:
    """Fixed-width table: claim id, paper, ours (with interval), verdict (long cells cut by '~')."""
    id_width = max([len("claim"), *(len(c["id"]) for c in claims)])
    head = f"{_cell('claim', id_width)}  {_cell('paper', width)}  {_cell('ours', width)}  verdict"
    lines = [head, "-" * len(head)]
    for c in claims:
        verdict = VERDICT_TEXT.get(c["verdict"], c["verdict"])
        lines.append(
            f"{_cell(c['id'], id_width)}  {_cell(c['paper'], width)}  {_cell(c['ours'], width)}  "
            f"{verdict} (n={c['n_seeds']})"
        )
    return "\n".join(lines)


def checks_text(checks: Sequence[dict]) -> str:
    """One line per check: id, pass/FAIL, |error| against its tolerance, its detail (cut)."""
    if not checks:
        return ""
    id_width = max(len(c["id"]) for c in checks)
    lines = ["checks (identities, closed forms and learnability gates; not findings):"]
    for c in checks:
        mark = "pass" if c["passed"] else "FAIL"
        detail = f"  {_cell(c['detail'], 70).rstrip()}" if c.get("detail") else ""
        lines.append(
            f"  {c['id'].ljust(id_width)}  {mark}  |error| {abs(c['error']):.2g} "
            f"<= {c['tolerance']:.2g}{detail}"
        )
    return "\n".join(lines)


def rules_text(claims: Sequence[dict]) -> str:
    """The distinct rules, each printed once with the claims that use it."""
    by_rule: dict[str, list[str]] = {}
    for c in claims:
        by_rule.setdefault(c["rule"], []).append(c["id"])
    return "rules (fixed before the run):\n" + "\n".join(
        f"  {', '.join(ids)}: {rule}" for rule, ids in by_rule.items()
    )


def run_repro(args: argparse.Namespace) -> int:
    paper_runner(args.paper)  # an unknown paper fails before anything runs
    if args.seeds is not None and args.seeds < 1:
        raise MMCLError(f"--seeds {args.seeds}: give a number of seeds >= 1")
    out = Path(args.out or f"runs/repro_{args.paper}_{args.scale}")
    log.info("repro %s at scale %s -> %s", args.paper, args.scale, out)
    result = run_paper(args.paper, args.scale, args.seeds, out, args.overrides)
    claims, checks = result["claims"], result["checks"]
    if args.json:
        document = {
            "paper": args.paper,
            "scale": args.scale,
            "claims": [{k: c[k] for k in CLAIM_KEYS} for c in claims],
            "checks": list(checks),
        }
        print(json.dumps(document, indent=1, default=float))
        return 0
    print(claims_text(claims))
    print(f"\n{rules_text(claims)}")
    if checks:
        print(f"\n{checks_text(checks)}")
    if result.get("note"):
        print(f"\n{result['note']}")
    counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(claims).items())
    passed = sum(bool(c["passed"]) for c in checks)
    print(
        f"\n{len(claims)} claims: {counts}; {passed}/{len(checks)} checks pass; results in "
        f"{out / 'results.json'}, report {out / 'report.html'}"
    )
    return 0
