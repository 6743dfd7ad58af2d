"""`mmcl robustness`: effective robustness against a baseline line (Taori 2020, Fang 2022).

Thin layer: parse flags into an InputConfig and a RobustnessConfig, call mmcl.eval.robustness,
print a table or JSON, and with --out write robustness.json, one scatter PNG per target and an
HTML report. Every input left out of the table is named on stderr with why ("skipped: ..."),
and in robustness.json's and the page's skipped list.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from mmcl.cli.options import bootstrap, float_between, int_in, names
from mmcl.eval.robustness import (
    DEGENERATE_POLICIES,
    TESTBED_SEED,
    TRANSFORMS,
    RobustnessConfig,
    RobustnessResult,
    compute_robustness,
    to_document,
)
from mmcl.eval.robustness_inputs import InputConfig, load_inputs
from mmcl.io import atomic_write_text, output_folder
from mmcl.report.page import Header, page
from mmcl.report.robustness_plot import html_section, save_scatter

EPILOG = """examples:
  mmcl robustness --table openclip_classification_results.csv --id "ImageNet 1k" \\
      --ood "ImageNet v2,ImageNet Sketch,ImageNet-R,ImageNet-A,ObjectNet" --json
  mmcl robustness --table t.csv --id "ImageNet 1k" --ood "ImageNet v2,ObjectNet" \\
      --baseline-where "pretrained=openai"
  mmcl robustness runs/demo/runs/*/results.json --id id --ood spurious_reversed \\
      --baseline-where task=classifier
  mmcl robustness RUN/checkpoint_results.json --id id --ood spurious_reversed,sketch
  mmcl robustness runs/*/results.json cb/*.json --id id --ood sketch \\
      --alias wds/shapes_id=id,wds/shapes_sketch=sketch --baseline-where task=classifier
  mmcl robustness --table benchmark.csv --id imagenet1k \\
      --ood imagenetv2,imagenet_sketch,imagenet-r,imagenet-a,objectnet

CLIP_benchmark names its datasets its own way (wds/shapes_id); --alias OLD=NEW (repeatable) or
--alias-file aliases.yaml ('wds/shapes_id: id' per line) renames them before matching. A --table
CSV with columns dataset, model, pretrained, task is CLIP_benchmark's `build` table, read as its
JSON files are. Inputs that give no point are listed on stderr as "skipped: ..." with the fix.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `robustness` subcommand; its handler is stored as `func`."""
    p = subparsers.add_parser(
        "robustness",
        help="effective robustness table and ID-vs-OOD plot",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", nargs="*", help="mmcl results.json / CLIP_benchmark JSON files")
    p.add_argument(
        "--table",
        action="append",
        default=[],
        help="CSV of results, one column per dataset or CLIP_benchmark's build CSV (repeatable)",
    )
    p.add_argument(
        "--alias",
        action="append",
        default=[],
        help="'OLD=NEW[,OLD=NEW]': rename input datasets/splits before matching (repeatable)",
    )
    p.add_argument("--alias-file", help="YAML or JSON mapping OLD: NEW of dataset names")
    p.add_argument("--id", required=True, help="ID split / column, e.g. 'ImageNet 1k'")
    p.add_argument("--ood", required=True, type=names, help="comma-separated OOD splits / columns")
    p.add_argument(
        "--baseline-table", help="CSV of baseline models (default for ImageNet: testbed)"
    )
    p.add_argument("--baseline-where", help="'col=value[,...]' choosing baseline rows")
    p.add_argument("--baseline-columns", help="'our name=baseline column,...' column overrides")
    p.add_argument(
        "--keep-incomplete-baseline",
        action="store_true",
        help="fit each shift on every baseline model that has it (default: only models with all)",
    )
    p.add_argument("--transform", default="logit", choices=TRANSFORMS.names())
    p.add_argument("--average", default="avg", choices=["avg", "none"])
    p.add_argument("--average-exclude", default="", help="shifts left out of the average")
    p.add_argument("--bootstrap", type=bootstrap, default=1000, help="resamples; 0 disables CIs")
    p.add_argument("--seed", type=int_in(0, 2**32 - 1), default=TESTBED_SEED)
    p.add_argument("--degenerate", default="clip", choices=DEGENERATE_POLICIES)
    p.add_argument(
        "--eps",
        type=float_between(0, 0.5),
        default=1e-3,
        help="accuracies are clipped to [eps, 1 - eps] before the logit (0 < eps < 0.5)",
    )
    p.add_argument("--reference", help="model label for relative robustness (OOD gain, pp)")
    p.add_argument("--group-by", help="table column that colours the plot points")
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--percent", dest="unit", action="store_const", const="percent")
    unit.add_argument("--fraction", dest="unit", action="store_const", const="fraction")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", help="folder for robustness.json, PNGs, robustness.html")
    p.set_defaults(func=run_robustness, unit="auto")
    return p


def _split(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def run_robustness(args: argparse.Namespace) -> int:
    """Handler: check --out, load inputs, fit, print, optionally write files."""
    out = None if args.out is None else output_folder(args.out, "--out")
    ood = args.ood
    inputs = load_inputs(
        InputConfig(
            id_name=args.id,
            ood_names=ood,
            results=args.results,
            tables=args.table,
            baseline_table=args.baseline_table,
            baseline_where=args.baseline_where,
            baseline_columns=args.baseline_columns,
            unit=args.unit,
            group_by=args.group_by,
            aliases=args.alias,
            alias_file=args.alias_file,
        )
    )
    for skip in inputs.skipped:  # before the fit, which may still stop the run
        print(f"skipped: {skip.line()}", file=sys.stderr)
    for note in inputs.notes:
        print(f"note: {note}", file=sys.stderr)
    cfg = RobustnessConfig(
        transform=args.transform,
        average=args.average,
        exclude_from_average=tuple(_split(args.average_exclude)),
        bootstrap=args.bootstrap,
        seed=args.seed,
        degenerate=args.degenerate,
        eps=args.eps,
        reference=args.reference,
        complete_baseline=not args.keep_incomplete_baseline,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same messages are in result.notes, printed below
        result = compute_robustness(inputs.points, ood, cfg)
    skipped = [s.record() for s in inputs.skipped]
    doc = to_document(result, inputs.baseline, skipped, inputs.notes)
    print(json.dumps(doc, indent=2) if args.json else format_table(result, inputs.baseline))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if out is not None:
        write_outputs(result, doc, out, inputs.baseline, inputs.notes)
    return 0


def format_table(result: RobustnessResult, baseline: str) -> str:
    """Plain-text table: fits, then one line per reported model, sorted by ER on the main target."""
    main = result.main_target.name
    lines = [f"effective robustness ({result.config.transform} axes); baseline: {baseline}"]
    for name, tf in result.fits.items():
        f = tf.fit
        lines.append(
            f"  fit {name}: slope {f.slope:.4f} intercept {f.intercept:.4f} r {f.r:.4f} n {f.n}"
            f"  [{tf.target.description}]"
        )
    names = list(result.fits)
    width = max([5] + [len(m.point.label) for m in result.models if m.point.reported])
    widths = [max(7, len(n)) for n in names]
    head = f"{'model':<{width}} {'ID %':>6} " + " ".join(
        f"{n:>{w}}" for n, w in zip(names, widths, strict=True)
    )
    lines += ["", f"ER in pp, sorted by ER on {main}; last column: 95% bootstrap CI on {main}"]
    lines.append(head + f"  {'CI ' + main:>17}")
    for m in result.models:
        if not m.point.reported:
            continue
        ers = " ".join(
            f"{m.er[n]:{w}.2f}" if n in m.er else f"{'-':>{w}}"
            for n, w in zip(names, widths, strict=True)
        )
        ci = m.er_ci.get(main)
        ci_text = f"[{ci[0]:6.2f}, {ci[1]:6.2f}]" if ci else ""
        lines.append(f"{m.point.label:<{width}} {100 * m.point.id_acc:6.2f} {ers}  {ci_text:>17}")
    return "\n".join(lines)


def write_outputs(
    result: RobustnessResult, doc: dict, out: Path, baseline: str, input_notes: Sequence[str] = ()
) -> None:
    """robustness.json, robustness_<target>.png per target, robustness.html embedding them and
    listing the inputs left out and the notes on reading them."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "robustness.json", json.dumps(doc, indent=2))
    pngs = {}
    for name in result.fits:
        safe = "".join(c if c.isalnum() else "_" for c in name)
        pngs[name] = save_scatter(result, name, out / f"robustness_{safe}.png")
    body = html_section(result, pngs, baseline) + _inputs_html(doc["skipped"], input_notes)
    title = f"mmcl robustness: effective robustness against {baseline or 'the baseline'}"
    reported = sum(m.point.reported for m in result.models)
    baseline = sum(m.point.baseline for m in result.models)
    what = f"{reported} model(s) placed against the line through {baseline} baseline models"
    atomic_write_text(out / "robustness.html", page(title, Header(what=what), [body]))
    print(f"wrote {out / 'robustness.json'}, {len(pngs)} PNGs, {out / 'robustness.html'}")


def _inputs_html(skipped: Sequence[dict[str, str]], notes: Sequence[str]) -> str:
    """The page's list of inputs left out of the table, each with its reason, then the notes on
    reading the inputs (the fit's own notes are in html_section); empty when there are none."""
    parts = []
    if skipped:
        items = "".join(
            f"<li><b>{html.escape(s['what'] or 'the file')}</b> from {html.escape(s['source'])}: "
            f"{html.escape(s['reason'])}</li>"
            for s in skipped
        )
        parts.append(f"<h3>Left out of the table ({len(skipped)})</h3><ul>{items}</ul>")
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        parts.append(f"<h3>Notes on the inputs</h3><ul>{items}</ul>")
    return "".join(parts)
