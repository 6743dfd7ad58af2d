"""The mcl2024 report page: claims, per-stage per-attribute probe bars, MMVP-style bars per pattern.

Plots are PNGs under out_dir/plots, embedded as data URIs, drawn with matplotlib's object API.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmcl.io import atomic_write
from mmcl.report.html import claims_html, write_report
from mmcl.report.plots import png_data_uri


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    return path


def grouped_bars(
    groups: dict[str, dict[str, float]], title: str, ylabel: str, chance: float | None = None
) -> Figure:
    """One group of bars per key of the inner dicts (x axis), one bar per outer key (legend)."""
    names = list(groups)
    xs = [k for k in next(iter(groups.values())) if all(k in g for g in groups.values())]
    fig = Figure(figsize=(max(6.0, 1.1 * len(xs) * max(1, len(names)) / 2 + 2), 3.8))
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        pos = np.arange(len(xs)) - 0.4 + width * (i + 0.5)
        ax.bar(pos, [groups[name][x] for x in xs], width, label=name)
    if chance is not None:
        ax.axhline(chance, color="0.4", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(range(len(xs)), xs)
    ax.set(title=title, ylabel=ylabel)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def write_mcl_report(out_dir: Path, result: dict[str, Any]) -> Path:
    """Plots under out_dir/plots, then out_dir/report.html; returns the page's path."""
    probes = result["simclr"]["probes"]
    figures = {
        "probes_per_stage": grouped_bars(
            probes, "SimCLR / MCL: linear probe accuracy per attribute", "accuracy"
        ),
        "cluster_nmi": grouped_bars(
            result["simclr"]["nmi"], "NMI of clusters / groups with each attribute", "NMI"
        ),
        "mmvp_per_pattern": grouped_bars(
            result["mmvp"], "MMVP-style pairs: CLIP vs MCL-CLIP", "pairs correct (%)", 25.0
        ),
    }
    sections = [claims_html(result["claims"]), f"<p>{html.escape(result['note'])}</p>"]
    sections.append("<h2>Plots</h2>")
    for name, fig in figures.items():
        path = _save(fig, out_dir / "plots" / f"{name}.png")
        sections.append(f"<img alt='{name}' src='{png_data_uri(path)}'/>")
    title = f"mmcl repro mcl2024 ({result['meta']['scale']})"
    records = [r for r in result["records"] if r["task"] == "attributes"]
    return write_report(out_dir, {"meta": result["meta"], "records": records}, title, sections)
