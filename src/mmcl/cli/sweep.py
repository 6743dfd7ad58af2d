"""`mmcl sweep CONFIG key=v1,v2,... seeds=0,1,2`: a seeded grid over any config keys.

Every combination of the listed values is trained once per seed (`train.seed`; the world's own
data seed stays as configured, so seeds vary initialisation and batch order). Runs are cached by
the hash of their resolved config under OUT/runs/: re-running the same grid trains nothing, and
adding a value or a seed trains only the new runs. The table gives each headline accuracy's mean
over seeds with its 95% interval; OUT/sweep.json holds every row, OUT/report.html the table and
one plot per swept key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmcl.cli.executor_options import add_executor_options, executor_context
from mmcl.cli.options import add_set_option, jobs
from mmcl.io import output_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="train a seeded grid over config keys, cached by config hash, with intervals",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="YAML config every run starts from (see configs/)")
    p.add_argument(
        "grid", nargs="+", help="key=v1,v2,... per swept key, and seeds=0,1,2 (default seeds=0)"
    )
    add_set_option(
        p,
        "a fixed override for every run (values may hold commas), repeatable",
    )
    p.add_argument("--out", default=None, help="sweep folder (default runs/sweep_CONFIG)")
    p.add_argument("--jobs", type=jobs, default=2, help="runs trained at a time (default 2)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_executor_options(p)
    p.set_defaults(func=run_sweep_command)


def rows_text(rows: list[dict], axes: list[str]) -> str:
    """Fixed-width table of the headline accuracies: point, model/task/split, mean [interval]."""
    lines = []
    for row in rows:
        point = " ".join(f"{k}={row[k]}" for k in axes)
        low, high = row["interval"]
        interval = "(1 seed)" if low is None else f"[{100 * low:5.1f}, {100 * high:5.1f}]"
        what = f"{row['model']} {row['task']} {row['split']}"
        lines.append(
            f"{point:<30} {what:<40} {100 * row['mean']:5.1f}  {interval}  n={row['n_seeds']}"
        )
    return "\n".join(lines)


def run_sweep_command(args: argparse.Namespace) -> int:
    default = f"runs/sweep_{Path(args.config).stem}"  # --out is checked before the library loads
    out = output_folder(default if args.out is None else args.out, "--out")

    from mmcl.experiments.sweep import run_sweep
    from mmcl.report.sweep import headline_rows, write_sweep_report

    with executor_context(args):
        result = run_sweep(args.config, args.grid, out, args.overrides, args.jobs)
    report = write_sweep_report(result, out)
    if args.json:
        print(json.dumps(result["rows"], indent=1))
        return 0
    print(rows_text(headline_rows(result["rows"]), list(result["axes"])))
    print(
        f"\n{len(result['runs'])} runs ({len(result['trained'])} trained now, the rest cached); "
        f"{out / 'sweep.json'}, report {report}"
    )
    return 0
