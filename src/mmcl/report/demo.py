"""The demo's page and text table: its arms, intervals, the curve, the testbed line.

Every number comes from `demo.json` (`mmcl.experiments.demo.run_demo`); the summary sentences
are the ones computed there, so the page cannot name a difference the intervals do not show.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import special

from mmcl.io import atomic_write_text
from mmcl.report.accuracy_axis import (
    AccuracyAxis,
    diagonal,
    fit_axis,
    note_edge,
    plot_point,
    scatter_points,
    set_accuracy_axes,
)
from mmcl.report.attributes import chance_lines
from mmcl.report.html import claims_html
from mmcl.report.page import Header, page, run_lines
from mmcl.report.plots import png_data_uri, save_png
from mmcl.report.samples import run_samples_html
from mmcl.report.training_curves import Curve, training_curves_figure

COLUMNS = {
    "id": "id",
    "spurious_reversed": "spurious_reversed",
    "drop": "drop (id - shift)",
    "class_probe": "class probe (balanced)",
    "effective_robustness": "effective robustness",
}
# How the report names each built-in world's images.
WORLD_WORDS = {"shapes": "drawn shapes", "fashion": "Fashion-MNIST photos"}
COLOURS = {
    "clip_rich": "tab:green",
    "clip_details": "tab:purple",
    "clip_label": "tab:blue",
    "supervised": "tab:orange",
}


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
    """Shift accuracy and the class probe against spurious strength, one line per arm."""
    fig = Figure(figsize=(10, 3.8))
    probe = f"{result.get('noun', 'shape')} probe"
    for k, (key, title) in enumerate(
        [("spurious_reversed", "spurious_reversed accuracy"), ("class_probe", probe)]
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


def _usable(points: list[dict[str, Any]], shift: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits of the testbed points with both accuracies strictly between 0 and 1: the points
    its line was fitted to (`experiments.demo.testbed_line`)."""
    x, y = np.array([p["id"] for p in points]), np.array([p[shift] for p in points])
    keep = (x > 0) & (x < 1) & (y > 0) & (y < 1)
    return special.logit(x[keep]), special.logit(y[keep])


def line_band(points: list[dict[str, Any]], shift: str, xs: np.ndarray, draws: int = 500):
    """2.5-97.5% of the testbed line over xs (logits), refitted on bootstrap resamples of the
    checkpoints it was fitted to; None when no resample has two distinct id accuracies."""
    x, y = _usable(points, shift)
    rng = np.random.default_rng(0)
    fits = []
    for _ in range(draws):
        pick = rng.integers(0, len(x), len(x))
        if len(x) and np.ptp(x[pick]) > 0:
            slope, intercept = np.polyfit(x[pick], y[pick], 1)
            fits.append(slope * xs + intercept)
    return np.percentile(fits, [2.5, 97.5], axis=0) if fits else None


def _reach(row: dict[str, Any]) -> list[float]:
    """The ends of a figure's interval that exist (one seed has none)."""
    return [end for end in row["interval"] if end is not None]


def plane_axis(at: dict[str, Any], shift: str) -> AccuracyAxis:
    """One axis for both coordinates that shows every testbed point, every seed, every mean and
    the intervals' ends."""
    points = at["testbed"]["points"]
    rows = [f[key] for f in at["arms"].values() for key in ("id", shift)]
    values = [p[key] for p in points for key in ("id", shift)]
    values += [v for row in rows for v in (*row["per_seed"], row["mean"])]
    return fit_axis(values, [end for row in rows for end in _reach(row)])


def edge_points(at: dict[str, Any], shift: str) -> list[str]:
    """What the plane draws on its edge: each arm's seeds and mean, and testbed checkpoints,
    at exactly 0% or 100% on id or on the shift."""
    found = []
    for arm, figures in at["arms"].items():
        pairs = zip(figures["id"]["per_seed"], figures[shift]["per_seed"], strict=True)
        seeds = sum(1 for pair in pairs if {0.0, 1.0} & set(pair))
        if seeds:
            found.append(f"{arm}: {seeds} seed{'s' if seeds > 1 else ''}")
    testbed = sum(1 for p in at["testbed"]["points"] if {0.0, 1.0} & {p["id"], p[shift]})
    if testbed:
        found.append(f"{testbed} testbed checkpoint{'s' if testbed > 1 else ''}")
    return found


def testbed_figure(at: dict[str, Any], shift: str) -> Figure:
    """id vs shift accuracy on logit axes fitted to what is drawn: the testbed's checkpoints,
    its line with a bootstrap band, y = x, and each arm as its seeds (small) and its mean with
    95% intervals (large); accuracies of 0% or 100% on the edge, marked."""
    fig = Figure(figsize=(5.8, 4.8))
    ax = fig.add_subplot()
    axis = plane_axis(at, shift)
    points = at["testbed"]["points"]
    on_edge = scatter_points(ax, axis, [p["id"] for p in points], [p[shift] for p in points],
                             s=12, color="0.65", label="testbed (supervised checkpoints)",
                             zorder=1)  # fmt: skip
    line = at["testbed"]["line"]
    xs = np.linspace(axis.low, axis.high, 60)
    band = line_band(points, shift, xs)
    if band is not None:
        ax.fill_between(xs, *band, color="0.85", label="testbed line, 95% bootstrap band",
                        zorder=0)  # fmt: skip
    ax.plot(xs, line["slope"] * xs + line["intercept"], color="0.3", lw=1, zorder=2)
    diagonal(ax, axis, zorder=2)
    for arm, figures in at["arms"].items():
        x_row, y_row = figures["id"], figures[shift]
        on_edge |= scatter_points(ax, axis, x_row["per_seed"], y_row["per_seed"], marker="D",
                                  s=14, color=COLOURS[arm], alpha=0.5, zorder=3)  # fmt: skip
        on_edge |= plot_point(ax, axis, (x_row["mean"], y_row["mean"]),
                              (x_row["interval"], y_row["interval"]), marker="D", ms=8,
                              color=COLOURS[arm], mec="black", mew=0.6, capsize=3,
                              label=f"{arm} (mean, 95% interval)", zorder=4)  # fmt: skip
    if on_edge:
        note_edge(ax)
    set_accuracy_axes(ax, axis, "id accuracy (%), logit axis", f"{shift} accuracy (%), logit axis")
    ax.set_title(f"spurious strength {at['strength']:g}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def attribute_figure(at: dict[str, Any]) -> Figure:
    """Each attribute's probe accuracy per arm with 95% intervals, chance marked: which features
    each arm keeps and which it suppresses."""
    arms = list(at["arms"])
    attributes = list(next(iter(at["arms"].values())).get("attributes", {}))
    fig = Figure(figsize=(8.5, 3.4))
    ax = fig.add_subplot()
    width = 0.8 / max(len(arms), 1)
    for k, arm in enumerate(arms):
        rows = [at["arms"][arm]["attributes"][a] for a in attributes]
        xs = np.arange(len(attributes)) + (k - (len(arms) - 1) / 2) * width
        means = np.array([100 * r["mean"] for r in rows])
        below = [m - 100 * r["interval"][0] if r["interval"][0] is not None else 0
                 for m, r in zip(means, rows, strict=True)]  # fmt: skip
        above = [100 * r["interval"][1] - m if r["interval"][1] is not None else 0
                 for m, r in zip(means, rows, strict=True)]  # fmt: skip
        ax.bar(xs, means, width, yerr=[below, above], capsize=2, color=COLOURS[arm], label=arm)
    chance_lines(ax, [at["arms"][arms[0]]["attributes"][a].get("chance") for a in attributes])
    ax.set_xticks(np.arange(len(attributes)), attributes)
    ax.set_ylabel("probe accuracy (%), 95% interval")
    ax.set_ylim(0, 105)
    ax.set_title(f"linear probe per attribute, balanced split, strength {at['strength']:g}",
                 fontsize=10)  # fmt: skip
    ax.grid(axis="y", color="0.9")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the bars
    fig.tight_layout()
    return fig


def curves_figure(at: dict[str, Any]) -> Figure:
    """Every run's training curves at one strength, coloured by arm."""
    curves = [
        Curve(arm, COLOURS[arm], run["step"], {k: v for k, v in run.items() if k != "step"})
        for arm, figures in at["arms"].items()
        for run in figures.get("training", [])
    ]
    return training_curves_figure(curves)


INTERVALS = (
    "Means over seeds [95% interval]. The intervals of the accuracies and the probe hold the "
    "seeds' spread (Student t) plus the binomial error of the one test set every seed shares; "
    "the drop's holds the seeds' spread only; effective robustness's holds the seeds' spread "
    "plus the shift's test-sample error, with the testbed line held fixed (its own uncertainty "
    "is the band in the plane below)."
)


def _table_html(result: dict[str, Any], at: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["arm", "what it is", *COLUMNS.values()])
    body = "".join(
        f"<tr><td class='text'>{html.escape(arm)}</td>"
        f"<td class='text'>{html.escape(result['arms'][arm]['description'])}</td>"
        + "".join(f"<td>{cell(figures.get(k))}</td>" for k in COLUMNS)
        + "</tr>"
        for arm, figures in at["arms"].items()
    )
    table = f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"
    return f"{table}<p class='caption'>{INTERVALS}</p>"


def plane_caption(at: dict[str, Any], shift: str) -> str:
    """What the plane's marks and intervals are, and which points sit on its edge."""
    text = (
        "Grey dots: the testbed, every kept checkpoint of the supervised arm's seeds; the dark "
        "line is fitted through them in logit space, and its shaded band spans the middle 95% "
        "of lines refitted on the checkpoints resampled with replacement (the line's "
        "uncertainty only). Small diamonds: one seed each; large diamonds: an arm's mean over "
        "seeds with its 95% interval on each axis (the seeds' spread plus the shared test set's "
        "binomial error). The axes span the points drawn."
    )
    edge = edge_points(at, shift)
    if edge:
        text += (
            f" At exactly 0% or 100% (no logit), drawn as hollow triangles on the edge: "
            f"{'; '.join(edge)}."
        )
    return f"<p class='caption'>{html.escape(text)}</p>"


ATTRIBUTES_CAPTION = (
    "A linear probe per attribute on frozen features, scored on the balanced split: each arm's "
    "mean over seeds with its 95% interval (the seeds' spread plus the shared split's binomial "
    "error). Dashed: chance, 1 / the number of values the attribute takes; a probe at chance "
    "means the arm's features lost that attribute."
)


def _strength_html(result: dict[str, Any], at: dict[str, Any], out_dir: Path) -> str:
    tag = str(at["strength"]).replace(".", "_")
    plane = save_png(testbed_figure(at, result["shift"]), out_dir / f"demo_plane_{tag}.png")
    probes = save_png(attribute_figure(at), out_dir / f"demo_attributes_{tag}.png")
    curves = save_png(curves_figure(at), out_dir / f"demo_training_{tag}.png")
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in at["summary"])
    strength = f"{at['strength']:g}"
    pre = at["precondition"]
    return "".join(
        [
            f"<h2>Spurious strength {strength}</h2>",
            f"<p>Precondition ({html.escape(pre['status'])}): {html.escape(pre['rule'])}. "
            f"{html.escape(pre['evidence'])}.</p>",
            _table_html(result, at),
            f"<p>What this shows:</p><ul>{summary}</ul>",
            claims_html(
                at["claims"],
                "The papers' predictions, decided by rules fixed before the run. The figures "
                f"are ours, on the {WORLD_WORDS.get(result.get('world', 'shapes'), 'built-in')} "
                "world; the directions are the papers'.",
                heading="",
            ),
            "<h3>The id-shift plane</h3>",
            plane_caption(at, result["shift"]),
            f"<img alt='id against {result['shift']} at {strength}' src='{png_data_uri(plane)}'/>",
            "<h3>Which features each arm keeps</h3>",
            f"<p class='caption'>{ATTRIBUTES_CAPTION}</p>",
            f"<img alt='attribute probes at {strength}' src='{png_data_uri(probes)}'/>",
            "<h3>Training curves</h3>",
            f"<img alt='training curves at {strength}' src='{png_data_uri(curves)}'/>",
        ]
    )


def _samples(result: dict[str, Any]) -> str:
    """Sample strips of the rich-caption arm's world at the headline (last) strength: the same
    images every arm sees, with the richest captions."""
    runs = result.get("runs", {}).get("clip_rich", [])
    return run_samples_html(Path(runs[-1])) if runs else ""


def _gate_html(gate: dict[str, Any] | None) -> str:
    """The budget's learnability gate: a failed one leaves every prediction unanswerable."""
    if gate is None:
        return ""
    low, high = gate["interval"]
    outcome = "passed" if gate["passed"] else "FAILED: no prediction below is answerable"
    return (
        f"<p>Budget gate: {html.escape(gate['statement'])}: {100 * gate['mean']:.1f}% "
        f"[{100 * low:.1f}, {100 * high:.1f}], <b>{outcome}</b>.</p>"
    )


def write_demo_report(result: dict[str, Any], out_dir: Path) -> Path:
    """OUT/report.html (and its PNGs beside it)."""
    curve = ""
    if len(result["strengths"]) > 1:  # one strength has no curve to draw
        png = save_png(curve_figure(result), out_dir / "demo_curve.png")
        curve = (
            "<h2>Over spurious strength</h2><p class='caption'>Means over seeds with 95% "
            "intervals (the seeds' spread plus the shared test set's binomial error).</p>"
            f"<img alt='accuracy against spurious strength' src='{png_data_uri(png)}'/>"
        )
    budget = html.escape(", ".join(result["budget"]))
    run_dirs = [Path(d) for dirs in result.get("runs", {}).values() for d in dirs]
    header = Header(
        what=f"mmcl demo ({result['scale']}): {len(result['arms'])} arms at spurious strengths "
        f"{', '.join(f'{s:g}' for s in result['strengths'])}",
        runs=run_lines(run_dirs),
        seeds=result["seeds"],
        wall_seconds=result.get("seconds"),
        wall_note=f"training and scoring in this call, which trained "
        f"{result.get('trained_now', '?')} of {len(run_dirs)} runs; any others came from the "
        "cache",
    )
    parts = [
        f"<p>{len(result['arms'])} arms on the <code>{result.get('world', 'shapes')}</code> "
        f"world, seeds {result['seeds']}. In training each {result.get('noun', 'shape')} "
        "sits on its own background with probability 'spurious "
        f"strength'; <code>{result['shift']}</code> always shows another class's background. "
        "Means over seeds with 95% intervals, in accuracy points; effective robustness is the "
        "shift accuracy above the logit-space line through the supervised checkpoints (the "
        f"testbed). Budget of every run: <code>{budget}</code>.</p>",
        _gate_html(result.get("gate")),
        curve,
        *(_strength_html(result, at, out_dir) for at in result["by_strength"]),
        _samples(result),
    ]
    title = "mmcl demo: where does CLIP's robustness to a spurious background appear?"
    path = out_dir / "report.html"
    atomic_write_text(path, page(title, header, parts))
    return path
