"""The feature-suppression chart of a run report: each attribute's linear probe per model, with
its binomial 95% test-sample interval and chance marked, so a feature a model dropped (probe at
chance) stands apart from one it kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mmcl.report.plots import binomial_half_width
from mmcl.report.tables import attribute_accuracy, attribute_metric


@dataclass(frozen=True)
class Probe:
    """One model's probe of one attribute on one split."""

    accuracy: float
    n_samples: int | None
    chance: float | None  # 1 / number of values the attribute takes


def attribute_probes(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Probe]]:
    """model -> "attribute (split)" -> its probe, read from the `attributes` task's records."""
    chances = {
        (r["model"], r["split"], found[0]): float(r["value"])
        for r in records
        if (found := attribute_metric(r)) is not None and found[1] == "uniform_chance"
    }
    probes: dict[str, dict[str, Probe]] = {}
    for r in records:
        found = attribute_accuracy(r)
        if found is None:
            continue
        attribute, accuracy = found
        chance = chances.get((r["model"], r["split"], attribute))
        key = f"{attribute} ({r['split']})"
        probes.setdefault(r["model"], {})[key] = Probe(accuracy, r.get("n_samples"), chance)
    return probes


def _half_width(probe: Probe | None) -> float:
    if probe is None or not probe.n_samples:
        return 0.0
    return 100 * binomial_half_width(probe.accuracy, probe.n_samples)


def _chance(probes: dict[str, dict[str, Probe]], key: str) -> float | None:
    """The chance level of one attribute probe, from the first model that records it."""
    return next((p[key].chance for p in probes.values() if key in p and p[key].chance), None)


def chance_lines(ax: Any, chances: Sequence[float | None]) -> None:
    """One dashed chance segment (fractions, drawn in %) over each bar group that has a chance
    level, all in one collection labelled "chance"; nothing when none has one."""
    drawn = [(i, 100 * c) for i, c in enumerate(chances) if c is not None]
    if drawn:
        xs, ys = np.array(drawn).T
        ax.hlines(ys, xs - 0.45, xs + 0.45, colors="black", linestyles="--", lw=1, label="chance")


def attribute_chart(records: Sequence[dict[str, Any]]) -> Figure | None:
    """Grouped bars, one group per attribute, one bar per model; None without attribute probes."""
    probes = attribute_probes(records)
    keys = sorted({k for by_key in probes.values() for k in by_key})
    if not keys:
        return None
    models = list(probes)
    fig = Figure(figsize=(max(6.0, 1.1 * len(keys) + 2.5), 3.6))
    ax = fig.add_subplot()
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        xs = np.arange(len(keys)) + (k - (len(models) - 1) / 2) * width
        rows = [probes[model].get(key) for key in keys]
        heights = [np.nan if p is None else 100 * p.accuracy for p in rows]
        errors = [_half_width(p) for p in rows]
        ax.bar(xs, heights, width, yerr=errors, capsize=2, color=f"C{k % 10}", label=model)
    chance_lines(ax, [_chance(probes, key) for key in keys])
    ax.set_xticks(np.arange(len(keys)), keys, fontsize=8, rotation=20, ha="right")
    ax.set_ylabel("probe accuracy (%), 95% interval")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", color="0.9")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
