"""report.html of `mmcl repro fang2022`: claims, checks, and the ID-vs-OOD scatter per target."""

from __future__ import annotations

from pathlib import Path

from mmcl.eval.robustness import RobustnessResult
from mmcl.experiments.fang2022.testbed import BASELINE_TEXT
from mmcl.report.html import checks_html, claims_html, write_report
from mmcl.report.robustness_plot import html_section, save_scatter


def write_fang_report(
    out_dir: Path,
    meta: dict,
    records: list[dict],
    result: RobustnessResult,
    claims: list[dict],
    checks: list[dict],
    note: str,
) -> Path:
    """report.html with one scatter PNG per target beside it (every seed's points plotted)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {
        name: save_scatter(result, name, out_dir / f"scatter_{name}.png") for name in result.fits
    }
    sections = [claims_html(claims, note), checks_html(checks)]
    sections.append(html_section(result, pngs, BASELINE_TEXT))
    title = f"mmcl repro fang2022 ({meta['scale']})"
    page_meta = {k: v for k, v in meta.items() if k != "robustness"}
    return write_report(out_dir, {"meta": page_meta, "records": records}, title, sections)
