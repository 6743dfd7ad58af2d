"""Training curves: loss, learning rate, logit scale and throughput against step, per run.

Drawn from the scalars every run logs to `metrics.jsonl`; a panel appears only for a scalar that
some run logged (supervised runs have no logit scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

PANELS = {
    "loss": "training loss",
    "lr": "learning rate",
    "logit_scale": "logit scale (1 / temperature)",
    "samples_per_s": "samples / s",
}


@dataclass(frozen=True)
class Curve:
    """One run's logged scalars: `values[key]` aligned with `steps` (None where not logged)."""

    label: str  # the legend entry; runs sharing a label share one entry
    colour: str
    steps: Sequence[int]
    values: dict[str, Sequence[float | None]]


def training_curves_figure(curves: Sequence[Curve]) -> Figure:
    """One panel per logged scalar, one thin line per run, one legend entry per label."""
    keys = [k for k in PANELS if any(k in c.values for c in curves)]
    fig = Figure(figsize=(3.2 * max(len(keys), 1), 3.0))
    for index, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), index + 1)
        seen: set[str] = set()
        for c in curves:
            pairs = [(s, v) for s, v in zip(c.steps, c.values.get(key, ()), strict=False)
                     if v is not None]  # fmt: skip
            if not pairs:
                continue
            label = None if c.label in seen else c.label
            seen.add(c.label)
            marker = "o" if len(pairs) == 1 else None  # one logged step: a point, not a line
            ax.plot(*zip(*pairs, strict=True), color=c.colour, lw=1, alpha=0.8, label=label,
                    marker=marker)  # fmt: skip
        ax.set_title(PANELS[key], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(color="0.9")
        if key == "loss":
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
