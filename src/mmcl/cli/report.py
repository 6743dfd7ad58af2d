"""`mmcl report RUN... --out report.html`: one HTML report from the runs' results files."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmcl.io import output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="merge run folders' results into one HTML report")
    p.add_argument("runs", nargs="+", help="run folders holding results.json")
    p.add_argument("--out", default="report.html", help="HTML file to write")
    p.add_argument("--title", default="mmcl report")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    out = output_file(args.out, "--out", "report.html")  # and its figures beside it

    from mmcl.report.html import report_runs

    path = report_runs([Path(run) for run in args.runs], out, title=args.title)
    print(f"wrote {path}")
    return 0


def write_run_report(run_dir: Path, title: str, id_split: str = "id") -> Path:
    """report.html for one run folder from its results.json (`id_split`: the split shifts
    are measured from)."""
    from mmcl.eval.tasks import read_results
    from mmcl.report.html import ReportConfig, write_report

    results = read_results(run_dir / "results.json")
    return write_report(run_dir, results, title=title, config=ReportConfig(id_split=id_split))
