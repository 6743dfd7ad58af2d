"""`mmcl demo`: CLIP and a supervised baseline on the same `shapes` images, under shift.

Both methods train for the same steps on the same images (CLIP on their captions, the baseline
on their class labels) with the same image tower, then are scored on every shift: zero-shot for
CLIP, its own head for the baseline, and a linear probe and per-attribute probes for both.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from mmcl.config import apply_overrides, from_dict, save_config, to_dict
from mmcl.train.config import RunConfig

log = logging.getLogger("mmcl")

DEMO_METHODS = ("clip", "supervised")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="train CLIP and a supervised baseline on `shapes`, measure robustness under shift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides", nargs="*", help="key=value overrides for both runs, e.g. train.steps=100"
    )
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--json", action="store_true", help="print results.json instead of the table")
    p.set_defaults(func=run_demo)


def demo_configs(out: Path, overrides: list[str]) -> dict[str, RunConfig]:
    """One config per method, identical except for the method (and its name)."""
    base = apply_overrides(to_dict(RunConfig()), overrides)
    configs = {}
    for method in DEMO_METHODS:
        data = {
            **base,
            "name": method,
            "out_dir": str(out),
            "method": {**base["method"], "name": method},
        }
        configs[method] = from_dict(RunConfig, data)
    return configs


def run_demo(args: argparse.Namespace) -> int:
    from mmcl.eval.run import evaluate_method, results_meta
    from mmcl.eval.tasks import write_results
    from mmcl.report.html import write_report
    from mmcl.report.tables import format_text, shift_table
    from mmcl.train.metrics_log import read_metrics
    from mmcl.train.run import train

    out = Path(args.out)
    configs = demo_configs(out, args.overrides)
    start = time.perf_counter()
    records, metrics = [], []
    for method, cfg in configs.items():
        log.info("demo: training %s for %d steps", method, cfg.train.steps)
        trained, _ = train(cfg, out / method)
        records += evaluate_method(
            cfg, trained, progress=lambda m, n=method: log.info("eval %s: %s", n, m)
        )
        metrics += [
            {"run": method, **line} for line in read_metrics(out / method / "metrics.jsonl")
        ]
    meta = {
        **results_meta(configs["clip"], out),
        "run": "demo",
        "methods": list(DEMO_METHODS),
        "seconds": round(time.perf_counter() - start, 1),
    }
    save_config(configs["clip"], out / "config.yaml")
    (out / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    write_results(out / "results.json", meta, records)
    write_report(
        out, {"meta": meta, "records": records}, title="mmcl demo: CLIP vs supervised under shift"
    )
    if args.json:
        print(json.dumps({"meta": meta, "records": records}, indent=2))
        return 0
    table = shift_table(records)
    print(format_text(table))
    print(
        f"\n{len(records)} results in {out / 'results.json'}; report: {out / 'report.html'} "
        f"({meta['seconds']:.0f} s)"
    )
    return 0
