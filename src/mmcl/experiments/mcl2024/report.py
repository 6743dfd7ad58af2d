"""The mcl2024 report page: claims, checks, and bars of the per-seed means.

Plots (PNGs under out_dir/plots, embedded as data URIs, matplotlib's object API): probe accuracy
per attribute for every SimCLR model, NMI of every stage's clusters with each attribute, and
MMVP-style pair accuracy per attribute for CLIP and MCL-CLIP.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmcl.io import atomic_write
from mmcl.report.html import checks_html, claims_html, write_report
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
    fig = Figure(figsize=(min(14.0, max(6.0, 0.3 * len(xs) * len(names) + 2)), 3.8))
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


def seed_means(raw: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """{model: {attribute: mean over seeds}} of raw[s][key]; lists are averaged first."""
    first = raw[0][key]
    return {
        model: {a: float(np.mean([np.mean(r[key][model][a]) for r in raw])) for a in values}
        for model, values in first.items()
    }


def write_report_page(out_dir: Path, result: dict[str, Any]) -> Path:
    """Plots under out_dir/plots, then out_dir/report.html; returns the page's path."""
    raw = result["raw"]
    probes = {k: v for k, v in seed_means(raw, "probes").items() if k != "clip"}
    mmvp = {k: v for k, v in seed_means(raw, "mmvp").items() if k != "clip_twice"}
    n = len(raw)
    figures = {
        "probes_per_model": grouped_bars(
            probes, f"SimCLR / MCL: probe accuracy per attribute (mean of {n} seeds)", "accuracy"
        ),
        "cluster_nmi": grouped_bars(
            seed_means(raw, "nmi"), "NMI of each stage's clusters with each attribute", "NMI"
        ),
        "mmvp_per_attribute": grouped_bars(
            mmvp, "MMVP-style pairs: CLIP vs MCL-CLIP", "pairs correct (fraction)", 0.25
        ),
    }
    sections = [
        claims_html(result["claims"]),
        checks_html(result["checks"]),
        f"<p>{html.escape(result['note'])}</p>",
        "<h2>Plots</h2>",
    ]
    for name, fig in figures.items():
        path = _save(fig, out_dir / "plots" / f"{name}.png")
        sections.append(f"<img alt='{name}' src='{png_data_uri(path)}'/>")
    title = f"mmcl repro mcl2024 ({result['meta']['scale']})"
    # The page's tables key on the model name: one row per model and seed.
    records = [
        {**r, "model": f"{r['model']} seed {r['seed']}"}
        for r in result["records"]
        if r["task"] == "attributes"
    ]
    return write_report(out_dir, {"meta": result["meta"], "records": records}, title, sections)
