"""fang2022 runs: the testbed grid, the worlds (shifts held out of both), the seeded cause runs,
the run cache, the raw results the claims read, and a micro end-to-end run."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.eval.robustness import ModelPoint, RobustnessConfig, compute_robustness
from mmcl.experiments.fang2022 import causes, claims, runner, runs, scales, testbed
from mmcl.experiments.fang2022.claims import COMPARISONS
from mmcl.train.config import RunConfig

SHIFTS = list(runs.SHIFTS)
MICRO = scales.FangScale(
    n_train=128, n_test=32, steps=2, width=2, batch_size=32,
    testbed_widths=(2,), testbed_steps=(1, 2), testbed_sizes=(64,), testbed_archs=(),
    seeds=(0, 1), bootstrap=50, jobs=1,
    text=("model.text_width=16", "model.text_layers=1", "model.text_heads=2",
          "model.embed_dim=8"),
)  # fmt: skip


def _cfg(overrides) -> RunConfig:
    return load_config(RunConfig, None, list(overrides))


# ---- the testbed grid and the worlds ---------------------------------------------------------


def test_tiny_testbed_grid_varies_every_knob_and_holds_the_reference():
    scale = scales.get_scale("tiny")
    specs = testbed.testbed_specs(scale)
    assert len(specs) >= 4 and len({s.name for s in specs}) == len(specs)
    assert all(s.baseline and s.evals[0] == runs.CLASSIFIER for s in specs)
    cfgs = [_cfg(s.overrides) for s in specs]
    assert all(c.method.name == "supervised" for c in cfgs)
    assert all(c.data.shapes.seen_colors == testbed.NARROW["seen_colors"] for c in cfgs)
    assert {c.model.width for c in cfgs if c.model.image == "small_cnn"} == {4, 8}
    assert "test_byobnet" in {c.model.timm_name for c in cfgs}
    assert {c.train.steps for c in cfgs} == {*scale.testbed_steps, scale.steps}
    budgets = {e.step or c.train.steps for s, c in zip(specs, cfgs, strict=True) for e in s.evals}
    assert len(budgets) > 3  # the budget axis: snapshots of each run, and its final weights
    assert {c.data.shapes.n_train for c in cfgs} == {*scale.testbed_sizes, scale.n_train}
    assert testbed.reference_ce(scale).name in {s.name for s in specs}
    assert len(scale.seeds) >= 3 and len(scales.get_scale("small").seeds) >= 5


def test_tiny_testbed_plan_has_at_least_15_models_at_budgets_below_each_run():
    scale = scales.get_scale("tiny")
    specs = testbed.testbed_specs(scale)
    models = [(s, e) for s in specs for e in s.evals]
    assert len(models) >= 15 and len({s.label(e) for s, e in models}) == len(models)
    for spec in specs:
        cfg = _cfg(spec.overrides)
        steps = [e.step for e in spec.evals if e.step]
        assert steps == list(range(scale.snapshot_every, cfg.train.steps, scale.snapshot_every))
        if steps:  # training keeps every checkpoint a snapshot scores, and the final one
            assert cfg.train.checkpoint_every == scale.snapshot_every
            assert cfg.train.keep_checkpoints == len(steps) + 1
    # snapshots are scoring only: the run's cache key is the plain run's
    setup = testbed.settings(scale)
    plain = testbed.reference_ce(scale)
    snapped = next(s for s in specs if s.name == plain.name)
    assert len(snapped.evals) > 1
    assert runs.resolve(snapped, setup).name == runs.resolve(plain, setup).name


def test_fit_floor_leaves_testbed_models_under_it_out_of_the_line():
    pts = [ModelPoint(f"b{i}", x, dict.fromkeys(SHIFTS, x / 2), baseline=True)
           for i, x in enumerate([0.1, 0.2, 0.3, 0.5, 0.8])]  # fmt: skip
    pts.append(ModelPoint("clip", 0.15, dict.fromkeys(SHIFTS, 0.1)))
    kept = testbed.fitted_points(pts, 0.3)
    assert [p.baseline for p in kept] == [False, False, True, True, True, False]
    assert kept[0].group == testbed.BELOW_FLOOR_GROUP and kept[-1].group == "model"
    testbed.check_baseline_spread(kept)
    with pytest.raises(MMCLError, match="only 2 distinct ID accuracies"):
        testbed.check_baseline_spread(testbed.fitted_points(pts, 0.4))
    with pytest.raises(MMCLError, match="fit_floor must lie in"):
        dataclasses.replace(MICRO, fit_floor=1.0)


def test_diverse_world_is_broader_and_neither_trains_on_a_test_shift(tmp_path):
    n = _cfg(testbed.world_overrides("narrow", 500)).data.shapes
    d = _cfg(testbed.world_overrides("diverse", 500)).data.shapes
    assert n.n_train == d.n_train == 500
    assert d.spurious_strength < n.spurious_strength
    assert set(n.seen_colors) < set(d.seen_colors)
    evaluation = testbed.eval_world(MICRO)
    assert testbed.shift_leaks(n, evaluation) == testbed.shift_leaks(d, evaluation) == []
    specs = [*testbed.testbed_specs(MICRO), *causes.cause_specs(MICRO, MICRO.seeds)]
    assert runner.held_out_checks(specs, testbed.settings(MICRO, tmp_path))[0]["passed"]
    # the check does see a leak
    palette = [*d.seen_colors, "pink"]
    leaky = dataclasses.replace(
        d, sketch_fraction=0.25, heldout_colors=["cyan"], seen_colors=palette
    )
    assert testbed.shift_leaks(leaky, evaluation) == ["sketches (25% of training)", "colour pink"]


def test_unknown_scale_is_refused():
    with pytest.raises(MMCLError, match="did you mean 'tiny'"):
        scales.get_scale("tinyy")


# ---- seeded cause runs -----------------------------------------------------------------------


def test_every_claim_reads_roles_that_have_runs_for_every_seed():
    scale = scales.get_scale("tiny")
    labels = causes.role_labels(scale, scale.seeds)
    for c in COMPARISONS:
        assert len(labels[c.treatment]) == len(labels[c.control]) == 3
    specs = causes.cause_specs(scale, scale.seeds)
    assert len(specs) == 6 * 3 and len({s.name for s in specs}) == len(specs)
    small = round(scale.size_fraction * scale.n_train)
    assert labels["clip-narrow-small"][0] == f"clip-narrow-n{small}-seed0"
    assert labels["clip-diverse/probe-train"][2] == "clip-diverse-seed2/probe-train"
    seeds = {_cfg(s.overrides).train.seed for s in specs}
    assert seeds == {0, 1, 2}


def test_seed_zero_reuses_the_testbed_reference_and_overrides_change_the_key(tmp_path):
    setup = testbed.settings(MICRO, tmp_path)
    ref = testbed.reference_ce(MICRO)
    assert runs.resolve(causes.seeded(ref, 0), setup).name == runs.resolve(ref, setup).name
    assert runs.resolve(causes.seeded(ref, 1), setup).name != runs.resolve(ref, setup).name
    lr = testbed.settings(MICRO, tmp_path, overrides=["train.lr=0.01"])
    assert runs.resolve(ref, lr).name != runs.resolve(ref, setup).name
    assert runs.resolve(ref, lr).train.lr == 0.01


# ---- cache ------------------------------------------------------------------------------------


def test_cache_key_ignores_name_and_folders_but_not_the_config(tmp_path):
    spec = testbed.supervised_spec("small_cnn", 2, 2, 64)
    a = testbed.settings(MICRO, tmp_path / "a")
    b = dataclasses.replace(a, root=tmp_path / "b", world_cache=str(tmp_path / "w"))
    ka, kb = runs.resolve(spec, a).name, runs.resolve(spec, b).name
    assert ka == kb
    renamed = dataclasses.replace(spec, name="other", group="x")
    assert runs.resolve(renamed, a).name == ka
    wider = testbed.supervised_spec("small_cnn", 3, 2, 64)
    assert runs.resolve(wider, a).name != ka
    # fields that do not change what is learned (logging, evaluation, other methods) keep the key
    quiet = dataclasses.replace(spec, overrides=(*spec.overrides, "train.log_every=7",
                                                 "eval.probe_train_size=99"))  # fmt: skip
    assert runs.resolve(quiet, a).name == ka


def test_runs_are_trained_once_and_reused(tmp_path, monkeypatch):
    setup = testbed.settings(MICRO, tmp_path)
    specs = testbed.testbed_specs(MICRO)[:2]
    points, records = runs.collect(specs, setup)
    assert [p.label for p in points] == [s.name for s in specs]
    assert all(set(p.ood) == set(SHIFTS) and 0 <= p.id_acc <= 1 for p in points)
    assert {r["split"] for r in records} == {"id", *SHIFTS}
    assert all(r["n_samples"] == MICRO.n_test for r in records)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr("mmcl.runs.door.train", no_training)
    again, _ = runs.collect(specs, setup)
    assert [(p.id_acc, p.ood) for p in again] == [(p.id_acc, p.ood) for p in points]
    # a new evaluation of a cached run loads its checkpoint, no training
    probe = dataclasses.replace(specs[0], evals=(runs.CLASSIFIER, causes.PROBE_ID))
    more, _ = runs.collect([probe], setup)
    assert [p.label for p in more] == [f"{probe.name}/head", f"{probe.name}/probe-id"]
    assert more[0].id_acc == points[0].id_acc


# ---- raw results from fitted points ----------------------------------------------------------


def test_raw_results_carry_each_roles_seeds_the_line_and_per_sample_correctness():
    from mmcl.eval.tasks import pack_correct, unpack_correct

    rng = np.random.default_rng(0)
    pts = [ModelPoint(f"b{i}", x, dict.fromkeys(SHIFTS, x - 0.1), baseline=True)
           for i, x in enumerate(np.linspace(0.3, 0.8, 6))]  # fmt: skip
    labels = causes.role_labels(MICRO, MICRO.seeds)
    records = []
    n = 500
    for labs in labels.values():
        for lab in labs:
            if lab in {p.label for p in pts}:
                continue
            bits = {
                s: rng.random(n) < p
                for s, p in {
                    "id": rng.uniform(0.3, 0.8),
                    "sketch": 0.3,
                    "unseen_colors": 0.4,
                }.items()
            }
            acc = {s: float(b.mean()) for s, b in bits.items()}
            pts.append(ModelPoint(lab, acc["id"], {s: acc[s] for s in SHIFTS}))
            records += [
                {
                    "model": lab,
                    "split": s,
                    "metric": "accuracy",
                    "n_samples": n,
                    "value": acc[s],
                    "correct": pack_correct(b),
                }
                for s, b in bits.items()
            ]
            records.append({"model": lab, "split": "id", "metric": "loss", "value": 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compute_robustness(pts, SHIFTS, RobustnessConfig(bootstrap=20))
    raw = runner.raw_results(result, labels, n, records, chance=0.1)
    assert raw["n_test"] == n and len(raw["line"]["coeffs"]) == 20
    assert sorted(raw["testbed"]["labels"]) == [p.label for p in pts[:6]]
    assert all(raw["testbed"]["fitted"])
    assert raw["chance"] == pytest.approx(0.1)
    assert raw["line"]["n"] == 6 and raw["line"]["r"] > 0.99
    one = raw["points"]["clip-narrow"]
    assert one["labels"] == labels["clip-narrow"] and len(one["id"]) == 2
    sketch = unpack_correct(one["correct"][1]["ood"]["sketch"])
    assert sketch.size == n and sketch.mean() == one["ood"][1]["sketch"]
    assert unpack_correct(one["correct"][0]["id"]).mean() == one["id"][0]
    json.dumps(raw)  # it goes into results.json as it is
    # every claim gets a paired error from these points
    rows = claims.decide_claims(raw)
    assert all(r["test"] == "shared" and "paired" in r["ours"] for r in rows[1:])
    # records scored before correctness was kept: the claims say so instead of guessing
    old = runner.raw_results(result, labels, n, [{k: v for k, v in r.items() if k != "correct"}
                                                 for r in records], 0.1)  # fmt: skip
    assert "correct" not in old["points"]["clip-narrow"]
    with pytest.raises(MMCLError, match="no per-sample correctness"):
        claims.decide_claims(old)


def test_snapshots_are_scored_from_kept_checkpoints_and_a_run_without_them_retrains(tmp_path):
    setup = testbed.settings(MICRO, tmp_path)
    plain = testbed.supervised_spec("small_cnn", 2, 3, 64)
    runs.collect([plain], setup)  # trained before snapshots: checkpoint_every 100 keeps step 3
    snapped = testbed.with_snapshots(plain, 1)
    assert [e.step for e in snapped.evals] == [0, 1, 2]
    cfg = runs.resolve(snapped, setup)
    assert runs.snapshots_missing(cfg, snapped.evals)
    points, _ = runs.collect([snapped], setup)  # retrains, keeping steps 1 and 2
    assert [p.label for p in points] == [f"{plain.name}/{e.name}" for e in snapped.evals]
    assert not runs.snapshots_missing(cfg, snapped.evals)
    steps = [runs.read_results(runs.eval_path(cfg, e, setup))["meta"]["eval"]["step"]
             for e in snapped.evals]  # fmt: skip
    assert steps == [0, 1, 2]


def test_scoring_version_rescores_without_retraining(tmp_path, monkeypatch):
    setup = testbed.settings(MICRO, tmp_path)
    cfg = runs.resolve(testbed.reference_ce(MICRO), setup)
    before = runs.eval_path(cfg, runs.CLASSIFIER, setup)
    monkeypatch.setattr(runs, "SCORE_VERSION", runs.SCORE_VERSION + 1)
    assert runs.resolve(testbed.reference_ce(MICRO), setup).name == cfg.name
    assert runs.eval_path(cfg, runs.CLASSIFIER, setup) != before


# ---- end to end (micro sizes) ----------------------------------------------------------------


@pytest.mark.slow
def test_repro_and_testbed_command_end_to_end(tmp_path, monkeypatch, capsys):
    from mmcl.cli import main
    from mmcl.eval.tasks import read_results
    from mmcl.experiments.registry import run_paper

    # enough steps that the testbed's models differ (a line through one point is refused)
    scale = dataclasses.replace(
        MICRO, n_test=128, width=4, steps=20, testbed_steps=(1, 20), snapshot_every=10
    )
    monkeypatch.setitem(scales.SCALES, "tiny", scale)
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    assert main(["testbed", "shapes", "--scale", "tiny", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "ce-cnn2-s20-n128" in text and "line (logit axes, avg2)" in text
    out = tmp_path / "out"
    result = run_paper("fang2022", "tiny", None, out)
    ids = [c["id"] for c in result["claims"]]
    assert ids == ["F0-line", *(c.claim_id for c in COMPARISONS)]
    assert all(c["verdict"] in ("held", "not held", "inconclusive") for c in result["claims"])
    assert all(c["n_seeds"] == 2 for c in result["claims"][1:])
    assert all(c["family_size"] == len(ids) and c["precondition"] for c in result["claims"])
    assert all(c["margin_reason"] for c in result["claims"])
    assert [c["id"] for c in result["checks"]] == ["C1-shifts-held-out", "gate-shape"]
    if not result["checks"][-1]["passed"]:  # a micro budget: the shape is not learnable here
        assert all(c["verdict"] == "inconclusive" for c in result["claims"])
    doc = read_results(out / "results.json")
    assert {r["model"] for r in doc["records"]} >= {"clip-diverse-seed1/probe-id"}
    assert all("correct" in r for r in doc["records"] if r["metric"] == "accuracy")
    saved = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in saved["claims"]] == ids
    page = (out / "report.html").read_text()
    assert "F2-distribution" in page and "data:image/png;base64" in page
    assert (out / "scatter_avg2.png").is_file()
