"""Every panel draws its points: read back from the matplotlib axes, each marker is finite and
inside the panel's limits, an accuracy under 2% is drawn where it is, one of exactly 0% sits on
the edge with its own marker and legend entry; the attribute chart draws its chance line from
the records the attributes task really writes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from mmcl.eval.robustness import ModelPoint, RobustnessConfig, compute_robustness
from mmcl.experiments import demo
from mmcl.report import demo as demo_report
from mmcl.report.accuracy_axis import EDGE_LABEL, fit_axis
from mmcl.report.attributes import attribute_chart, attribute_probes
from mmcl.report.plane import plane_figure
from mmcl.report.robustness_plot import scatter_figure
from mmcl.report.tables import shift_table
from mmcl.report.trajectory import Trajectory, trajectory_figure

from .demo_result import demo_result
from .drawn import assert_every_point_shown, legend_texts, marker_lines
from .records import ATTRIBUTE_VALUES, HEADLINE, attribute_records, headline_records


def test_the_plane_draws_a_point_under_2_percent_where_it_is_and_0_percent_on_the_edge():
    splits = ("id", "spurious_reversed", "sketch")  # clip at 1.5% and at 0%
    records = [r for model in HEADLINE for r in headline_records(model, splits)]
    fig = plane_figure(records, shift_table(records))
    spurious, sketch = fig.axes
    points = assert_every_point_shown(spurious, expected=2)
    assert special.logit(0.015) in points[:, 1]  # at 1.5%, not clipped to a floor
    assert min(spurious.get_ylim()) < special.logit(0.015)
    assert EDGE_LABEL not in legend_texts(spurious)
    assert_every_point_shown(sketch, expected=2)
    (clip,) = [xy for marker, xy in marker_lines(sketch) if marker == "v"]  # hollow, pointing off
    labels = dict(zip(sketch.get_yticklabels(), sketch.get_yticks(), strict=True))
    floor = [tick for label, tick in labels.items() if label.get_text() == "0"]
    assert clip[0, 1] == pytest.approx(floor[0]) and EDGE_LABEL in legend_texts(sketch)
    assert clip[0, 1] < special.logit(0.30) < max(sketch.get_ylim())


def test_an_axis_spans_its_data_and_keeps_0_and_1_apart_from_the_part_to_scale():
    axis = fit_axis([0.0, 0.004, 0.5, 1.0], reach=[-0.01, 0.6])
    z = special.logit([0.004, 0.5])
    assert axis.low < axis.floor < axis.inner_low < z[0] < z[1] < axis.inner_high < axis.ceiling
    assert axis.ceiling < axis.high
    positions, labels = axis.ticks()
    assert labels[0] == "0" and labels[-1] == "100"
    assert all(axis.inner_low <= p <= axis.inner_high for p in positions[1:-1])
    plain = fit_axis([0.3, 0.6], reach=[-0.02, 1.04])  # interval ends past 0 and 1 make no band
    assert plain.floor is None and plain.ceiling is None
    assert plain.position([0.0, 1.0]).tolist() == [plain.low, plain.high]  # bars stop at limits


def test_every_step_of_a_trajectory_is_drawn_even_at_0_percent():
    runs = [
        Trajectory("a", "C0", "zeroshot", [10, 20, 30],
                   {"id": [0.2, 0.5, 0.7], "sketch": [0.0, 0.01, 0.3]}),
        Trajectory("b", "C1", "classifier", [10, 20],
                   {"id": [0.4, 0.9], "sketch": [0.35, 0.999]}),
    ]  # fmt: skip
    (ax,) = trajectory_figure(runs).axes
    assert_every_point_shown(ax, expected=5)
    assert EDGE_LABEL in legend_texts(ax)


def test_the_attribute_chart_draws_chance_from_the_attributes_tasks_own_records():
    records = attribute_records("clip") + attribute_records("supervised")
    probes = attribute_probes(records)
    chance = {a: 1 / k for a, k in ATTRIBUTE_VALUES.items() if k > 1}  # style is constant
    assert {k: p.chance for k, p in probes["clip"].items()} == {
        f"{a} (id)": pytest.approx(c) for a, c in chance.items()
    }
    (ax,) = attribute_chart(records).axes
    (lines,) = [c for c in ax.collections if c.get_label() == "chance"]
    heights = sorted(float(segment[0, 1]) for segment in lines.get_segments())
    assert heights == pytest.approx(sorted(100 * c for c in chance.values()))
    assert "chance" in legend_texts(ax)


def test_the_demo_plane_draws_every_checkpoint_seed_and_mean_with_0_percent_on_the_edge():
    result = demo_result()
    for at in result["by_strength"]:
        (ax,) = demo_report.testbed_figure(at, demo.SHIFT).axes
        seeds = sum(len(f["id"]["per_seed"]) for f in at["arms"].values())
        assert_every_point_shown(ax, expected=len(at["testbed"]["points"]) + seeds + 4)
        assert EDGE_LABEL in legend_texts(ax)
    assert demo_report.edge_points(result["by_strength"][-1], demo.SHIFT) == [
        "clip_rich: 2 seeds", "1 testbed checkpoint"
    ]  # fmt: skip


def test_the_robustness_scatter_draws_a_model_at_0_percent():
    rng = np.random.default_rng(0)
    x = np.linspace(0.3, 0.9, 8)
    y = special.expit(0.9 * special.logit(x) - 0.5 + rng.normal(0, 0.05, 8))
    points = [ModelPoint(f"base{i}", a, {"s": b}, group="baseline", baseline=True)
              for i, (a, b) in enumerate(zip(x, y, strict=True))]  # fmt: skip
    points += [ModelPoint("broken", 0.6, {"s": 0.0}), ModelPoint("low", 0.5, {"s": 0.004})]
    with pytest.warns(UserWarning, match="clipped"):
        result = compute_robustness(points, ["s"], RobustnessConfig(average="none", bootstrap=50))
    (ax,) = scatter_figure(result, "s").axes
    assert_every_point_shown(ax, expected=10)
    assert EDGE_LABEL in legend_texts(ax)
