"""`mmcl demo`: four fixed arms, figures with intervals, a curve, claims that wait for the
supervised arm to learn the shape. The analysis on synthetic figures; the machinery on a tiny
budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmcl import stats
from mmcl.data.worlds import WORLDS
from mmcl.experiments import demo
from mmcl.experiments.calibrated import WORLD_GATES
from mmcl.report.demo import write_demo_report

from ..browser import assert_reads_well

SHAPES = WORLDS.get("shapes")


def _row(values, se=0.005):
    return demo._estimate_row(values, [se] * len(values))


def _figures(shift, probe, er=None, id_acc=(0.9, 0.9, 0.9)):
    er = shift if er is None else er
    return {
        "id": _row(id_acc),
        demo.SHIFT: _row(shift),
        "drop": demo._estimate_row([i - s for i, s in zip(id_acc, shift, strict=True)], None),
        "class_probe": _row(probe),
        "effective_robustness": _row(er),
    }


def test_a_difference_is_named_only_when_its_interval_excludes_zero():
    figures = {
        "clip_rich": _figures([0.60, 0.62, 0.61], [0.7, 0.7, 0.71]),
        "clip_details": _figures([0.50, 0.45, 0.55], [0.7, 0.7, 0.71]),
        "clip_label": _figures([0.40, 0.41, 0.39], [0.7, 0.69, 0.7]),
        "supervised": _figures([0.35, 0.60, 0.45], [0.7, 0.71, 0.7]),
    }
    rows = demo.comparisons(figures)
    sentences = demo.summary_sentences(rows)
    shift = next(s for s in sentences if s.startswith(demo.SHIFT))
    assert "clip_rich > clip_label" in shift
    assert "supervised" not in shift  # its seeds spread over both: interval includes zero
    probe = next(s for s in sentences if s.startswith("class_probe"))
    assert probe == "class_probe: no difference detected at this scale."
    detected = {(r["a"], r["b"], r["metric"]) for r in rows if r["detected"]}
    assert ("clip_rich", "clip_label", demo.SHIFT) in detected


def test_claims_are_decided_by_their_rules_when_the_supervised_arm_learns_the_shape():
    figures = {
        "clip_rich": _figures([0.60, 0.62, 0.61], [0.7, 0.7, 0.7]),
        "clip_details": _figures([0.52, 0.53, 0.52], [0.7, 0.7, 0.7]),
        "clip_label": _figures([0.42, 0.43, 0.42], [0.7, 0.7, 0.7], er=[0.1, 0.11, 0.1]),
        "supervised": _figures([0.40, 0.40, 0.41], [0.7, 0.7, 0.7], er=[0.1, 0.1, 0.11]),
    }
    precondition = demo.class_learned(figures, SHAPES)
    assert precondition["status"] == stats.MET
    claims = demo.decide_claims(figures, precondition)
    assert {c["id"]: c["verdict"] for c in claims} == {
        "xue_rich_over_label": stats.HELD,
        "xue_details_over_label": stats.HELD,
        "xue_label_not_below_supervised": stats.HELD,
        "fang_same_data_same_er": stats.HELD,
    }


def test_the_precondition_reads_the_supervised_arm_only():
    """CLIP arms that learn the shape do not make a regime answerable where the supervised arm
    does not; a supervised arm that learns it does, whatever the CLIP arms probe."""
    figures = {arm: _figures([0.01, 0.0, 0.02], [0.7, 0.72, 0.71]) for arm in demo.ARM_NAMES}
    figures["supervised"] = _figures([0.01, 0.0, 0.02], [0.12, 0.14, 0.13])
    precondition = demo.class_learned(figures, SHAPES)
    assert precondition["status"] == stats.FAILED
    assert "13.0%" in precondition["evidence"]
    claims = demo.decide_claims(figures, precondition)
    assert {c["verdict"] for c in claims} == {stats.INCONCLUSIVE}
    assert all(c["precondition"] == precondition for c in claims)
    figures = {arm: _figures([0.01, 0.0, 0.02], [0.12, 0.14, 0.13]) for arm in demo.ARM_NAMES}
    figures["supervised"] = _figures([0.01, 0.0, 0.02], [0.7, 0.72, 0.71])
    assert demo.class_learned(figures, SHAPES)["status"] == stats.MET


def test_bimodal_seeds_do_not_meet_the_precondition():
    figures = {arm: _figures([0.3, 0.3, 0.3], [0.7, 0.7, 0.7]) for arm in demo.ARM_NAMES}
    figures["supervised"] = _figures([0.3, 0.3, 0.3], [0.71, 0.69, 0.15])
    assert demo.class_learned(figures, SHAPES)["status"] == stats.FAILED


def test_paired_errors_come_from_the_records_per_sample_correctness():
    rng = np.random.default_rng(0)
    truth = rng.random(1000) < 0.5
    a = {
        split: [truth ^ (rng.random(1000) < 0.05) for _ in range(3)] for split in ("id", demo.SHIFT)
    }
    b = {
        split: [truth ^ (rng.random(1000) < 0.05) for _ in range(3)] for split in ("id", demo.SHIFT)
    }
    paired = demo.paired_test_se(a, b, demo.SHIFT)
    unpaired = np.hypot(
        *stats.accuracy_se([a[demo.SHIFT][0].mean(), b[demo.SHIFT][0].mean()], 1000)
    )
    assert len(paired) == 3 and paired[0] < unpaired / 2
    drop = demo.paired_test_se(a, b, "drop")
    assert drop[0] == pytest.approx(
        np.hypot(stats.paired_accuracy_se(a["id"][0], b["id"][0]), paired[0])
    )
    assert (
        demo.paired_test_se(a, b, "class_probe") is None
        and demo.paired_test_se(None, b, "id") is None
    )


def test_the_arms_are_fixed_and_differ_only_in_method_and_captions():
    assert demo.ARM_NAMES == ("clip_rich", "clip_details", "clip_label", "supervised")
    keys = {a.name: {o.split("=")[0] for o in a.overrides} for a in demo.ARMS}
    allowed = {"method.name", "data.shapes.caption_preset", "data.shapes.caption_mention"}
    allowed |= {"eval.tasks", "train.checkpoint_every", "train.keep_checkpoints"}
    assert set().union(*keys.values()) <= allowed


def test_demo_end_to_end_on_a_tiny_budget_then_cached(tmp_path, world_cache):
    tiny = [
        f"data.cache_dir={world_cache}",
        "data.shapes.n_train=256",
        "data.shapes.n_test=200",
        "train.steps=8",
        "train.batch_size=32",
        "train.warmup_steps=1",
        "train.checkpoint_every=2",
        "eval.probe_train_size=100",
    ]
    scale = demo.DemoScale(seeds=(0, 1), strengths=(0.5, 0.9))
    result = demo.run_demo(scale, tmp_path, jobs=1, extra=tiny)
    assert result["trained_now"] == 16
    assert [r["strength"] for r in result["by_strength"]] == [0.5, 0.9]
    for at in result["by_strength"]:
        assert len(at["testbed"]["points"]) >= 4  # checkpoints of both supervised seeds
        for arm in demo.ARM_NAMES:
            for metric in (demo.SHIFT, "class_probe", "effective_robustness"):
                row = at["arms"][arm][metric]
                assert len(row["per_seed"]) == 2
                assert row["interval"][0] <= row["mean"] <= row["interval"][1]
        assert {c["id"] for c in at["claims"]} == {c.id for c, _ in demo.CLAIMS}
        for arm in demo.ARM_NAMES:
            probes = at["arms"][arm]["attributes"]
            assert {"shape", "color", "background"} <= set(probes)
            assert probes["color"]["chance"] == pytest.approx(1 / 8)  # 10 colours, 2 held out
            training = at["arms"][arm]["training"]
            assert [run["seed"] for run in training] == [0, 1] and training[0]["step"][-1] == 8
            assert ("logit_scale" in training[0]) == (arm != "supervised")
    for arm in demo.ARM_NAMES:
        assert [p["strength"] for p in result["curve"][arm]] == [0.5, 0.9]
    report = write_demo_report(result, tmp_path)
    assert_reads_well(report, ["Over spurious strength", "The id-shift plane",
                               "Which features each arm keeps", "Training curves",
                               "What the splits look like"])  # fmt: skip
    page = report.read_text()
    assert "<td>16 (16 distinct config hashes); " in page  # every run named, with its time
    run_dirs = [Path(d) for dirs in result["runs"].values() for d in dirs]
    assert all(f"<code>{json.loads((d / 'results.json').read_text())['meta']['config_hash']}"
               in page for d in run_dirs)  # fmt: skip
    on_disk = json.loads((tmp_path / "demo.json").read_text())
    assert on_disk["by_strength"][0]["arms"] == result["by_strength"][0]["arms"]

    again = demo.run_demo(scale, tmp_path, jobs=1, extra=tiny)
    assert again["trained_now"] == 0
    assert again["by_strength"] == result["by_strength"]


@pytest.mark.parametrize("world", demo.DEMO_WORLDS)
@pytest.mark.parametrize("scale", ["quick", "full"])
def test_each_scale_has_three_seeds_or_more(world, scale):
    assert len(demo.SCALES[world][scale].seeds) >= 3


@pytest.mark.parametrize("world", demo.DEMO_WORLDS)
def test_full_draws_the_curve_through_the_default_strengths(world):
    quick, full = demo.SCALES[world]["quick"], demo.SCALES[world]["full"]
    assert len(full.strengths) >= 2 and set(quick.strengths) <= set(full.strengths)


def test_the_cli_offers_every_demo_world():
    from mmcl.cli import build_parser

    for world in demo.DEMO_WORLDS:
        assert build_parser().parse_args(["demo", "--world", world]).world == world


def test_the_shapes_demo_runs_exactly_the_calibrated_budget(tmp_path):
    """Moving the demo to another world adds only `data.world`; on shapes nothing, so its runs'
    configs (and cached results) are those of before the fashion world existed."""
    scale = demo.DemoScale(seeds=(0,), strengths=(0.3,))
    shapes = demo.plan_demo(scale, tmp_path)
    fashion = demo.plan_demo(scale, tmp_path, world="fashion")
    for arm in demo.ARM_NAMES:
        assert shapes[arm][0].cfg.data.world == "shapes"
        assert fashion[arm][0].cfg.data.world == "fashion"
        assert shapes[arm][0].run_dir != fashion[arm][0].run_dir


# ~20 s: the demo's machinery is checked end to end on shapes in the default run; the fashion
# world's reader and rendering have their own fast tests (tests/data/test_fashion.py).
@pytest.mark.slow
def test_demo_on_the_fashion_world_probes_its_item(tmp_path, fashion_root, monkeypatch):
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    tiny = [
        f"data.world_options.root={fashion_root}",
        "data.shapes.n_train=60",
        "data.shapes.n_test=100",
        "train.steps=10",
        "train.batch_size=30",
        "train.lr=0.05",  # the testbed line needs checkpoints of different accuracies
        "train.warmup_steps=1",
        "train.checkpoint_every=2",
        "eval.probe_train_size=50",
    ]
    scale = demo.DemoScale(seeds=(0, 1), strengths=(0.5,))
    result = demo.run_demo(scale, tmp_path / "demo", jobs=1, extra=tiny, world="fashion")
    assert (result["world"], result["noun"]) == ("fashion", "item")
    assert "data.world=fashion" in result["budget"]
    at = result["by_strength"][0]
    assert "item" in at["precondition"]["rule"]
    probes = at["arms"]["supervised"]["attributes"]
    assert {"item", "color", "background"} <= set(probes) and "shape" not in probes
    assert probes["background"]["chance"] == pytest.approx(1 / 10)  # unseen backgrounds: none
    assert len(at["arms"]["clip_label"]["class_probe"]["per_seed"]) == 2
    gate = result["gate"]  # 10 steps on 60 photos: far under fashion's bar
    assert gate["attribute"] == "item" and not gate["passed"]
    assert gate["threshold"] == WORLD_GATES["fashion"].accuracy
    assert {c["precondition"]["status"] for c in at["claims"]} == {stats.FAILED}
    assert {c["verdict"] for c in at["claims"]} == {stats.INCONCLUSIVE}
