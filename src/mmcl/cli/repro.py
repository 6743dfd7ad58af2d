"""`mmcl repro PAPER --scale tiny|small|paper`: rerun a paper's experiments, print its claims.

Every claim is decided over several seeds by a rule fixed in the paper's package before the run,
with a 95% interval for the experiment's test design (`mmcl.stats`), and gets one of three
verdicts: held, not held or inconclusive. A paper's claims are one family (or a few named ones):
the verdict is Holm's step-down at 5% family-wise, the claim's own (raw) verdict beside it; an
undecided claim says why and how many seeds would decide it (`mmcl.verdicts`). Exact identities
and closed-form checks are listed apart, under checks, with their tolerance.

`--seeds auto --budget 30m` runs a pilot at the scale's seeds, then as many more seeds as the
undecided claims ask for and the budget affords, each look at alpha / 2. `--json` prints
{"paper", "scale", "claims", "checks"} (and "looks" with --seeds auto), each claim with
`CLAIM_KEYS`; progress and logging go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

from mmcl.cli.executor_options import add_executor_options, executor_context
from mmcl.cli.options import add_set_option
from mmcl.errors import MMCLError
from mmcl.experiments.registry import PAPERS, SCALES, paper_runner, run_paper, run_paper_auto
from mmcl.io import atomic_write_text, output_folder
from mmcl.stats import FAILED, HELD, NOT_HELD, verdict_counts

log = logging.getLogger("mmcl")

CLAIM_KEYS = (
    "id", "statement", "paper", "ours", "verdict", "raw_verdict", "interval", "estimate",
    "n_seeds", "test", "p_value", "family", "family_size", "rule", "margin", "margin_reason",
    "fails_if", "precondition", "seeds_needed", "why",
)  # fmt: skip
VERDICT_TEXT = {HELD: "held", NOT_HELD: "NOT HELD"}  # inconclusive prints as itself
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def duration(text: str) -> float:
    """`30m`, `1.5h`, `900s` or `900` as seconds (argparse type: a bad value names the flag)."""
    unit = text[-1:] if text[-1:] in DURATION_UNITS else "s"
    number = text[:-1] if text[-1:] in DURATION_UNITS else text
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive time such as 30m, 2h or 900s")
    return seconds


def seed_count(text: str) -> int | str:
    """`--seeds N` (N >= 1) or `--seeds auto`."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seeds >= 1, or auto")
    return value


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
        "--seeds",
        type=seed_count,
        default=None,
        help="number of seeds (0..N-1), or auto: a pilot at the scale's seeds, then as many as "
        "the undecided claims need within --budget; default: the scale's own",
    )
    p.add_argument(
        "--budget",
        type=duration,
        default=duration("30m"),
        help="with --seeds auto: wall time for both looks (e.g. 30m, 2h; default 30m)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default runs/repro_PAPER_SCALE, runs/repro_PAPER_SCALE_WORLD with "
        "--set data.world=WORLD)",
    )
    p.add_argument("--json", action="store_true", help="print only claims and checks, as JSON")
    add_set_option(
        p,
        "run-config override for the paper's training runs, repeatable "
        "(e.g. --set train.steps=500; --set data.world=fashion re-asks the claims on real "
        "Fashion-MNIST photos; xue2024 also reads real captions with "
        "--set data.format=coco --set data.path=captions_train2017.json)",
    )
    add_executor_options(p)
    p.set_defaults(func=run_repro)


def _cell(text: object, size: int) -> str:
    text = str(text)
    return (text if len(text) <= size else text[: size - 1] + "~").ljust(size)


def _seeds_cell(c: dict) -> str:
    needed = c.get("seeds_needed")
    if needed is None:
        return "-"
    return str(needed) if isinstance(needed, int) else str(needed).split(":")[0]


def claims_text(claims: Sequence[dict], width: int = 40) -> str:
    """Fixed-width table: claim id, ours (with interval), margin, precondition, raw verdict,
    family verdict and the seeds an undecided claim would need (long cells cut by '~')."""
    id_width = max([len("claim"), *(len(c["id"]) for c in claims)])
    head = (
        f"{_cell('claim', id_width)}  {_cell('ours', width)}  {_cell('margin', 8)}  "
        f"{_cell('precondition', 12)}  {_cell('raw', 12)}  {_cell('verdict', 20)}  seeds needed"
    )
    lines = [head, "-" * len(head)]
    for c in claims:
        verdict = VERDICT_TEXT.get(c["verdict"], c["verdict"])
        raw = VERDICT_TEXT.get(c["raw_verdict"], c["raw_verdict"])
        margin = f"{c['margin']:g}"
        decided = f"{verdict} (n={c['n_seeds']})"
        lines.append(
            f"{_cell(c['id'], id_width)}  {_cell(c['ours'], width)}  {_cell(margin, 8)}  "
            f"{_cell(c['precondition']['status'], 12)}  {_cell(raw, 12)}  "
            f"{_cell(decided, 20)}  {_seeds_cell(c)}"
        )
    return "\n".join(lines)


def unanswerable_text(claims: Sequence[dict]) -> str:
    """The claims this run cannot answer (their precondition failed: the arms did not learn the
    feature the claim is about), grouped by precondition, to read before any verdict."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in claims:
        pre = c["precondition"]
        if pre["status"] == FAILED:
            groups.setdefault((pre["rule"], pre.get("evidence", "")), []).append(c["id"])
    if not groups:
        return ""
    lines = ["not answerable here (the precondition failed; these claims stay undecided):"]
    for (rule, evidence), ids in groups.items():
        seen = f"; seen: {evidence}" if evidence else ""
        lines.append(f"  {', '.join(ids)}: {rule}{seen}")
    return "\n".join(lines)


def why_text(claims: Sequence[dict]) -> str:
    """Why each undecided claim is undecided, one line each."""
    lines = [f"  {c['id']}: {c['why']}" for c in claims if c.get("why")]
    return "why undecided:\n" + "\n".join(lines) if lines else ""


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
    """The distinct rules (with their margins' reasons), each printed once with its claims."""
    by_rule: dict[str, list[str]] = {}
    for c in claims:
        reason = f" (margin: {c['margin_reason']})" if c.get("margin_reason") else ""
        by_rule.setdefault(c["rule"] + reason, []).append(c["id"])
    return "rules (fixed before the run):\n" + "\n".join(
        f"  {', '.join(ids)}: {rule}" for rule, ids in by_rule.items()
    )


def check_overrides(overrides: Sequence[str]) -> None:
    """Every `--set KEY=VALUE` must be a run-config key with a value in range, checked on the
    default run config before any paper trains: a typo otherwise surfaces minutes later, in
    the first run that loads it. (A rule joining two keys is judged on the defaults too.)"""
    from mmcl.config import load_config
    from mmcl.train.config import RunConfig

    try:
        load_config(RunConfig, None, overrides)
    except MMCLError as error:
        raise MMCLError(f"--set: {error}") from None


def run_repro(args: argparse.Namespace) -> int:
    worlds = [o.split("=", 1)[1] for o in args.overrides if o.startswith("data.world=")]
    world = f"_{worlds[-1]}" if worlds and worlds[-1] != "shapes" else ""
    default = f"runs/repro_{args.paper}_{args.scale}{world}"  # another world: its own folder
    out = output_folder(default if args.out is None else args.out, "--out")
    paper_runner(args.paper)  # an unknown paper fails before anything runs
    check_overrides(args.overrides)
    log.info("repro %s at scale %s -> %s", args.paper, args.scale, out)
    if args.seeds == "auto":
        with executor_context(args):
            result = run_paper_auto(args.paper, args.scale, out, args.budget, args.overrides)
        document = {
            "claims": result["claims"],
            "checks": result["checks"],
            "looks": result["looks"],
        }
        atomic_write_text(out / "claims_auto.json", json.dumps(document, indent=1, default=float))
    else:
        with executor_context(args):
            result = run_paper(args.paper, args.scale, args.seeds, out, args.overrides)
    claims, checks = result["claims"], result["checks"]
    if args.json:
        document = {
            "paper": args.paper,
            "scale": args.scale,
            "claims": [{k: c.get(k) for k in CLAIM_KEYS} for c in claims],
            "checks": list(checks),
        }
        if "looks" in result:
            document["looks"] = result["looks"]
        print(json.dumps(document, indent=1, default=float))
        return 0
    if unanswerable_text(claims):
        print(f"{unanswerable_text(claims)}\n")
    print(claims_text(claims))
    print(f"\n{rules_text(claims)}")
    if why_text(claims):
        print(f"\n{why_text(claims)}")
    if checks:
        print(f"\n{checks_text(checks)}")
    if result.get("note"):
        print(f"\n{result['note']}")
    if "looks" in result:
        print(f"\nlooks (each at alpha/2): {json.dumps(result['looks'])}")
    counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(claims).items())
    raw = ", ".join(f"{n} {v}" for v, n in verdict_counts(claims, "raw_verdict").items())
    passed = sum(bool(c["passed"]) for c in checks)
    print(
        f"\n{len(claims)} claims: {counts} (Holm, 5% family-wise; each alone: {raw}); "
        f"{passed}/{len(checks)} checks pass; results in {out / 'results.json'}, report "
        f"{out / 'report.html'}"
    )
    return 0
