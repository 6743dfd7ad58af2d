"""Robustness over training: each run's path on the id-shift plane, from `eval.every` scores
or from every kept checkpoint scored after the fact (`mmcl eval RUN --checkpoint all`).

Training logs `eval/<task>/<split>` accuracies every `eval.every` steps (`mmcl.runs.scoring.
periodic_scores`); here each shift gets one panel with id accuracy on x and the shift's on y, in
logit axes (where the baseline lines of effective robustness are straight), one line per run in
step order, its first and last steps marked, on axes fitted to the paths. No baseline line is
drawn: a run report has no family of baseline models to fit one to (`mmcl robustness` and the
demo draw one), so the panels show y = x only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mmcl.eval.tasks import CHECKPOINT_RESULTS, read_results
from mmcl.report.accuracy_axis import (
    diagonal,
    fit_axis,
    note_edge,
    scatter_points,
    set_accuracy_axes,
)

PREFIX = "eval/"
ID_SPLIT = "id"
HEADLINE_TASKS = ("zeroshot", "classifier")  # the periodic scores' tasks


@dataclass(frozen=True)
class Trajectory:
    """One run's periodic scores: step -> {split: accuracy} of its headline task."""

    label: str
    colour: str
    task: str
    steps: list[int]
    accuracy: dict[str, list[float]]  # split -> accuracy per step


def trajectory_of(label: str, colour: str, rows: Sequence[dict[str, Any]]) -> Trajectory | None:
    """The run's trajectory from its metrics rows; None when it logged no id score."""
    scored = [row for row in rows if any(k.startswith(PREFIX) for k in row)]
    tasks = [k.split("/")[1] for row in scored for k in row
             if k.startswith(PREFIX) and k.endswith(f"/{ID_SPLIT}")]  # fmt: skip
    if not tasks:
        return None
    task = tasks[0]
    keys = {k.split("/", 2)[2] for row in scored for k in row if k.startswith(f"{PREFIX}{task}/")}
    splits = [ID_SPLIT, *sorted(keys - {ID_SPLIT})]
    rows = [row for row in scored if all(f"{PREFIX}{task}/{s}" in row for s in splits)]
    accuracy = {s: [row[f"{PREFIX}{task}/{s}"] for row in rows] for s in splits}
    return Trajectory(label, colour, task, [row["step"] for row in rows], accuracy)


def checkpoint_trajectory(run_dir: Path, label: str, colour: str) -> Trajectory | None:
    """The trajectory through a run's scored checkpoints; None when they were not scored."""
    path = run_dir / CHECKPOINT_RESULTS
    if not path.is_file():
        return None
    by_step: dict[int, dict[str, Any]] = {}
    for r in read_results(path)["records"]:
        if r["metric"] == "accuracy" and r["task"] in HEADLINE_TASKS and "step" in r:
            row = by_step.setdefault(int(r["step"]), {"step": int(r["step"])})
            row[f"{PREFIX}{r['task']}/{r['split']}"] = r["value"]
    return trajectory_of(label, colour, [by_step[step] for step in sorted(by_step)])


def trajectory_figure(trajectories: Sequence[Trajectory]) -> Figure:
    """One panel per shift: every run's path from its first to its last scored step, on axes
    fitted to the paths (a step at exactly 0% sits on the edge, marked)."""
    shifts = sorted({s for t in trajectories for s in t.accuracy if s != ID_SPLIT})
    fig = Figure(figsize=(3.8 * max(len(shifts), 1), 3.8))
    for index, shift in enumerate(shifts):
        ax = fig.add_subplot(1, len(shifts), index + 1)
        paths = [t for t in trajectories if shift in t.accuracy]
        axis = fit_axis([v for t in paths for v in (*t.accuracy[ID_SPLIT], *t.accuracy[shift])])
        diagonal(ax, axis)
        on_edge = False
        for t in paths:
            xs, ys = t.accuracy[ID_SPLIT], t.accuracy[shift]
            x, y = axis.position(xs), axis.position(ys)
            ax.plot(x, y, "-", lw=1, color=t.colour)
            on_edge |= scatter_points(ax, axis, xs, ys, s=9, color=t.colour,
                                      label=f"{t.label} ({t.task})")  # fmt: skip
            ax.annotate(f"step {t.steps[0]}", (x[0], y[0]), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")  # fmt: skip
            ax.annotate(f"step {t.steps[-1]}", (x[-1], y[-1]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        if on_edge:
            note_edge(ax)
        set_accuracy_axes(ax, axis, f"{ID_SPLIT} accuracy (%), logit axis",
                          f"{shift} accuracy (%), logit axis")  # fmt: skip
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig
