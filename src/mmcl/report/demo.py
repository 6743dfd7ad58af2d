"""The demo's page and text table: three arms, intervals, the curve, the testbed line.

Every number comes from `demo.json` (`mmcl.experiments.demo.run_demo`); the summary sentences
are the ones computed there, so the page cannot name a difference the intervals do not show.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import special

from mmcl.io import atomic_write, atomic_write_text
from mmcl.report.html import CSS, claims_html
from mmcl.report.plots import png_data_uri

COLUMNS = {
    "id": "id",
    "spurious_reversed": "spurious_reversed",
    "drop": "drop (id - shift)",
    "shape_probe": "shape probe (balanced)",
    "effective_robustness": "effective robustness",
}
COLOURS = {"clip_rich": "tab:green", "clip_label": "tab:blue", "supervised": "tab:orange"}


def cell(row: dict[str, Any] | None) -> str:
    """`89.9 [87.1, 92.7]` in points; one seed has no interval."""
    if row is None:
        return "-"
    low, high = row["interval"]
    if low is None:
        return f"{100 * row['mean']:.1f} (1 seed)"
    return f"{100 * row['mean']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def text_table(at: dict[str, Any]) -> str:
    """One strength's figures as a fixed-width table, means and 95% intervals in points."""
    header = ["arm", *COLUMNS.values()]
    rows = [
        [arm, *(cell(figures.get(key)) for key in COLUMNS)] for arm, figures in at["arms"].items()
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    head = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    return "\n".join([head, "-" * len(head), *lines])


def curve_figure(result: dict[str, Any]) -> Figure:
    """Shift accuracy and the shape probe against spurious strength, one line per arm."""
    fig = Figure(figsize=(10, 3.8))
    for k, (key, title) in enumerate(
        [("spurious_reversed", "spurious_reversed accuracy"), ("shape_probe", "shape probe")]
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        for arm, curve in result["curve"].items():
            xs = [p["strength"] for p in curve]
            ys = np.array([100 * p[key]["mean"] for p in curve])
            lows = [p[key]["interval"][0] for p in curve]
            highs = [p[key]["interval"][1] for p in curve]
            below = [y - 100 * lo if lo is not None else 0 for y, lo in zip(ys, lows, strict=True)]
            above = [100 * h - y if h is not None else 0 for y, h in zip(ys, highs, strict=True)]
            ax.errorbar(
                xs, ys, yerr=[below, above], marker="o", capsize=3, label=arm, color=COLOURS[arm]
            )
        ax.set_xlabel("spurious strength in training")
        ax.set_ylabel(f"{title} (%), 95% interval")
        ax.set_ylim(0, 100)
        ax.grid(color="0.9")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def testbed_figure(at: dict[str, Any], shift: str) -> Figure:
    """id vs shift accuracy in logit axes: testbed checkpoints, their line, each arm's seeds."""
    fig = Figure(figsize=(5.6, 4.6))
    ax = fig.add_subplot()
    clip = 1e-3
    points = at["testbed"]["points"]
    tx = special.logit(np.clip([p["id"] for p in points], clip, 1 - clip))
    ty = special.logit(np.clip([p[shift] for p in points], clip, 1 - clip))
    ax.scatter(tx, ty, s=14, color="0.6", label="testbed (supervised checkpoints)")
    line = at["testbed"]["line"]
    xs = np.linspace(tx.min() - 0.5, tx.max() + 0.5, 50)
    ax.plot(xs, line["slope"] * xs + line["intercept"], color="0.3", lw=1, label="testbed fit")
    for arm, figures in at["arms"].items():
        x = special.logit(np.clip(figures["id"]["per_seed"], clip, 1 - clip))
        y = special.logit(np.clip(figures[shift]["per_seed"], clip, 1 - clip))
        ax.scatter(x, y, s=36, marker="D", color=COLOURS[arm], label=arm)
    ticks = np.array([0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99])
    ax.set_xticks(special.logit(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_yticks(special.logit(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_xlabel("id accuracy (%), logit axis")
    ax.set_ylabel(f"{shift} accuracy (%), logit axis")
    ax.set_title(f"spurious strength {at['strength']:g}", fontsize=10)
    ax.grid(color="0.9")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110))
    return path


def _table_html(result: dict[str, Any], at: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["arm", "what it is", *COLUMNS.values()])
    body = "".join(
        f"<tr><td class='text'>{html.escape(arm)}</td>"
        f"<td class='text'>{html.escape(result['arms'][arm]['description'])}</td>"
        + "".join(f"<td>{cell(figures.get(k))}</td>" for k in COLUMNS)
        + "</tr>"
        for arm, figures in at["arms"].items()
    )
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def _strength_html(result: dict[str, Any], at: dict[str, Any], out_dir: Path) -> str:
    name = f"demo_testbed_{str(at['strength']).replace('.', '_')}.png"
    png = _save(testbed_figure(at, result["shift"]), out_dir / name)
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in at["summary"])
    return "".join(
        [
            f"<h2>Spurious strength {at['strength']:g}</h2>",
            _table_html(result, at),
            f"<p>What this shows:</p><ul>{summary}</ul>",
            claims_html(
                at["claims"],
                "The papers' predictions, decided by rules fixed before the run. The figures "
                "are ours, on a synthetic world; the directions are the papers'.",
                heading="",
            ),
            f"<img alt='testbed line and arms at {at['strength']:g}' src='{png_data_uri(png)}'/>",
        ]
    )


def write_demo_report(result: dict[str, Any], out_dir: Path) -> Path:
    """OUT/report.html (and its PNGs beside it)."""
    curve = _save(curve_figure(result), out_dir / "demo_curve.png")
    budget = html.escape(", ".join(result["budget"]))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>mmcl demo</title><style>{CSS}</style></head><body>",
        "<h1>mmcl demo: where does CLIP's robustness to a spurious background appear?</h1>",
        f"<p>Three arms on the calibrated <code>shapes</code> world, seeds {result['seeds']}. "
        "In training each shape sits on its own background with probability 'spurious "
        f"strength'; <code>{result['shift']}</code> always shows another class's background. "
        "Means over seeds with 95% intervals, in accuracy points; effective robustness is the "
        "shift accuracy above the logit-space line through the supervised checkpoints (the "
        f"testbed). Budget of every run: <code>{budget}</code>.</p>",
        "<h2>Over spurious strength</h2>",
        f"<img alt='accuracy against spurious strength' src='{png_data_uri(curve)}'/>",
        *(_strength_html(result, at, out_dir) for at in result["by_strength"]),
        "</body></html>",
    ]
    path = out_dir / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return path
