"""The zhang2023 report page: claims, checks, pair statistics, and a bar plot of the grid.

One HTML file (`mmcl.report.html.write_report`) whose shift table reads seed-mean linear-probe
records (one row per variant); extra sections: the claims and checks tables, the note, the pair
statistics (seed means), and a bar plot of probe accuracy per variant, in distribution and
averaged over the shifts (PNG beside the page, embedded as a data URI).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmcl.experiments.zhang2023 import probes
from mmcl.experiments.zhang2023.pairs import PAIR_KINDS
from mmcl.experiments.zhang2023.resampling import VARIANTS
from mmcl.io import atomic_write
from mmcl.report.html import checks_html, claims_html, write_report
from mmcl.report.plots import png_data_uri

PLOT_NAME = "zhang2023_resampling.png"


def variant_order(table: dict[str, dict[str, float]]) -> list[str]:
    """Baseline first, then the grid's order, then any other run (text positives)."""
    known = [v for v in VARIANTS if v in table]
    return known + sorted(v for v in table if v not in known)


def probed_dataset(records: list[dict]) -> str:
    """The dataset the grid's probes read (the world's name, e.g. `fashion`); `shapes` if none."""
    return next((r["dataset"] for r in records if r.get("task") == "linear_probe"), "shapes")


def summary_records(table: dict[str, dict[str, float]], dataset: str = "shapes") -> list[dict]:
    """One linear-probe record per (variant, split): the seed mean, as the shift table reads."""
    return [
        {"model": variant, "task": "linear_probe", "dataset": dataset, "split": split,
         "n_samples": 0, "metric": "accuracy", "value": value / 100.0}
        for variant in variant_order(table) for split, value in table[variant].items()
    ]  # fmt: skip


def bar_plot(
    table: dict[str, dict[str, float]],
    path: Path,
    chance: float | None = None,
    dataset: str = "shapes",
) -> Path:
    """Grouped bars: id and mean-over-shifts probe accuracy per variant; SimCLR's as lines, and
    chance (points) as a grey line when given."""
    variants = variant_order(table)
    fig = Figure(figsize=(max(6.0, 1.1 * len(variants)), 3.8))
    ax = fig.add_subplot()
    xs = range(len(variants))
    ids = [table[v].get(probes.ID_SPLIT, math.nan) for v in variants]
    shifts = [probes.shift_mean(table[v]) for v in variants]
    ax.bar([x - 0.2 for x in xs], ids, width=0.4, label="in distribution (id)")
    ax.bar([x + 0.2 for x in xs], shifts, width=0.4, label="mean over shifts", hatch="//")
    if probes.BASELINE in table:
        base = variants.index(probes.BASELINE)
        ax.axhline(ids[base], color="C0", linestyle=":", linewidth=1)
        ax.axhline(shifts[base], color="C1", linestyle=":", linewidth=1)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(list(xs), [v.replace("_", "\n") for v in variants], fontsize=7)
    ax.set(
        ylabel="linear probe accuracy (%, seed mean)",
        title=f"SimCLR vs CLIP-guided resampling ({dataset})",
    )
    ax.legend(fontsize=8)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    return path


def _pairs_html(pairs: list[dict] | None) -> str:
    """Seed means of the pair statistics, one row per kind of pair."""
    if not pairs:
        return ""
    names = ["same_class", "distinct_image", "any_nuisance_differs", "pixel_distance"]
    attrs = list(pairs[0]["text"]["differs"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in [*names, *attrs])
    rows = ""
    for kind in PAIR_KINDS:
        cells = [np.mean([p[kind][n] for p in pairs]) for n in names]
        cells += [np.mean([p[kind]["differs"][a] for p in pairs]) for a in attrs]
        rows += f"<tr><td class='text'>{kind}</td>" + "".join(f"<td>{v:.3f}</td>" for v in cells)
        rows += "</tr>"
    return (
        f"<h2>Positive pairs ({pairs[0]['n_pairs']} per kind and seed, {len(pairs)} seeds)</h2>"
        "<p>Seed means. Attribute columns: share of pairs whose attribute differs.</p>"
        f"<table><tr><th>pairs</th>{head}</tr>{rows}</table>"
    )


def write_zhang_report(out_dir: Path, result: dict[str, Any]) -> Path:
    """report.html in `out_dir` from `runner.run`'s result."""
    table = probes.probe_table(result["records"])
    dataset = probed_dataset(result["records"])
    sections = [
        claims_html(result["claims"]),
        checks_html(result["checks"]),
        f"<p>{html.escape(result.get('note', ''))}</p>",
        _pairs_html(result["meta"].get("pairs")),
    ]
    if table:
        pairs = result["meta"].get("pairs")
        chance = 100.0 / pairs[0]["n_classes"] if pairs else None
        plot = bar_plot(table, out_dir / PLOT_NAME, chance, dataset)
        alt = "linear probe accuracy per resampling variant"
        sections.append(f"<h2>Resampling grid</h2><img alt='{alt}' src='{png_data_uri(plot)}'/>")
    summary = {"meta": result["meta"], "records": summary_records(table, dataset)}
    return write_report(out_dir, summary, "zhang2023 reproduction", sections)
