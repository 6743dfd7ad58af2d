"""`mmcl testbed shapes|fashion`: train (once) the baseline testbed of standard supervised models
on the narrow version of a world and print each model's ID and shift accuracies, the baseline line
fitted through them and every model's residual effective robustness.

Runs are cached under `<cache>/fang2022/` (default $MMCL_CACHE or ~/.cache/mmcl) by config hash;
a second call, and `mmcl repro fang2022` at the same scale, reuse them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import warnings

from mmcl.cli.executor_options import add_executor_options, executor_context
from mmcl.cli.options import bootstrap, jobs
from mmcl.experiments.registry import SCALES
from mmcl.io import atomic_write_text, output_file, output_folder

# The training and fitting modules load on use: `mmcl --help` should not import torch.
# The worlds the testbed runs on: those with the shapes knobs and shifts fang2022 sets (named here,
# not read from the world registry, which imports torch; a test checks them against it).
TESTBED_WORLDS = ("shapes", "fashion")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `testbed` subcommand; its handler is stored as `func`."""
    p = subparsers.add_parser(
        "testbed",
        help="train the baseline testbed of standard models on a world (cached)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("world", choices=TESTBED_WORLDS, help="built-in world")
    p.add_argument("--scale", default="tiny", choices=SCALES, help="size preset (default tiny)")
    p.add_argument("--cache", help="cache folder (default $MMCL_CACHE or ~/.cache/mmcl)")
    p.add_argument("--jobs", type=jobs, help="parallel training processes (default: the scale's)")
    p.add_argument("--bootstrap", type=bootstrap, default=1000, help="resamples of the line fit")
    p.add_argument("--json", action="store_true", help="print JSON (the robustness document)")
    p.add_argument(
        "--csv",
        help="also write the models' accuracies (%%) as a CSV that `mmcl robustness "
        "--baseline-table` reads (every row marked baseline_candidate)",
    )
    add_executor_options(p)
    p.set_defaults(func=run_testbed)
    return p


def run_testbed(args: argparse.Namespace) -> int:
    csv_out = None if args.csv is None else output_file(args.csv, "--csv", "testbed.csv")
    if args.cache is not None:
        output_folder(args.cache, "--cache")

    from mmcl.eval.robustness import RobustnessConfig, compute_robustness, to_document
    from mmcl.experiments.fang2022 import runs as fang_runs
    from mmcl.experiments.fang2022 import testbed as fang_testbed
    from mmcl.experiments.fang2022.testbed import check_baseline_spread

    scale = fang_testbed.get_scale(args.scale)
    setup = fang_testbed.settings(scale, args.cache, args.jobs, [f"data.world={args.world}"])
    with executor_context(args):
        points, _ = fang_runs.collect(fang_testbed.testbed_specs(scale), setup)
    points = fang_testbed.fitted_points(points, scale.fit_floor)
    check_baseline_spread(points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate accuracies are in result.notes
        result = compute_robustness(
            points, fang_runs.SHIFTS, RobustnessConfig(bootstrap=args.bootstrap)
        )
    doc = to_document(result, fang_testbed.BASELINE_TEXT)
    if csv_out is not None:
        atomic_write_text(csv_out, baseline_table_csv(doc))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(format_testbed(doc, str(setup.root)))
    return 0


def baseline_table_csv(doc: dict) -> str:
    """One row per testbed model: its id and shift accuracies in %, marked as baseline rows."""
    from mmcl.eval.robustness_inputs import BASELINE_FLAG
    from mmcl.experiments.fang2022.runs import SHIFTS

    shifts = list(SHIFTS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "id", *shifts, BASELINE_FLAG])
    for m in doc["models"]:
        accuracies = [f"{m['ood_acc_pct'][s]:.4f}" for s in shifts]
        writer.writerow([m["model"], f"{m['id_acc_pct']:.4f}", *accuracies, 1])
    return buffer.getvalue()


def format_testbed(doc: dict, root: str) -> str:
    """One line per model (accuracies in %, residual ER on the average), then the line fit."""
    from mmcl.experiments.fang2022.runs import SHIFTS

    main = doc["sorted_by"].removeprefix("ER on ")
    shifts = list(SHIFTS)
    head = f"{'model':<26} {'id':>6} " + " ".join(f"{s[:12]:>12}" for s in shifts)
    lines = [f"baseline testbed ({len(doc['models'])} models, cached in {root})", head]
    lines[-1] += f" {main:>6} {'ER pp':>6}"
    for m in sorted(doc["models"], key=lambda m: m["id_acc_pct"]):
        accs = " ".join(f"{m['ood_acc_pct'][s]:12.1f}" for s in shifts)
        t = m["targets"][main]
        lines.append(
            f"{m['model']:<26} {m['id_acc_pct']:6.1f} {accs} {t['acc_pct']:6.1f} {t['er_pp']:+6.2f}"
        )
    fit = doc["fits"][main]
    lines.append(
        f"line ({doc['transform']} axes, {main}): slope {fit['slope']:.3f} "
        f"intercept {fit['intercept']:.3f} r {fit['r']:.3f} n {fit['n']}"
    )
    return "\n".join(lines)
