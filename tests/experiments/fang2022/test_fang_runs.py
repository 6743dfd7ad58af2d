"""fang2022: the testbed grid, the run cache, the cause comparisons and their held logic on
fabricated points, and the ΔER interval against a direct computation."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import special

from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.eval.robustness import ModelPoint, RobustnessConfig, compute_robustness
from mmcl.experiments import fang2022, fang_causes, fang_runs, fang_testbed
from mmcl.experiments.fang_causes import Comparison, Effect
from mmcl.train.config import RunConfig

SHIFTS = list(fang_runs.SHIFTS)
MICRO = fang_testbed.FangScale(
    n_train=128, n_test=32, steps=2, width=2, batch_size=32,
    testbed_widths=(2,), testbed_steps=(1, 2), testbed_sizes=(64,), testbed_archs=(),
    bootstrap=50, jobs=1,
    text=("model.text_width=16", "model.text_layers=1", "model.text_heads=2",
          "model.embed_dim=8"),
)  # fmt: skip


# ---- the testbed grid -------------------------------------------------------------------------


def test_tiny_testbed_grid_varies_every_knob_and_holds_the_reference():
    scale = fang_testbed.get_scale("tiny")
    specs = fang_testbed.testbed_specs(scale)
    assert len(specs) >= 10 and len({s.name for s in specs}) == len(specs)
    assert all(s.baseline and s.evals == (fang_runs.CLASSIFIER,) for s in specs)
    cfgs = [load_config(RunConfig, None, list(s.overrides)) for s in specs]
    assert all(c.method.name == "supervised" for c in cfgs)
    assert all(c.data.shapes.spurious_strength == fang_testbed.NARROW["spurious_strength"]
               for c in cfgs)  # fmt: skip
    assert {c.model.width for c in cfgs if c.model.image == "small_cnn"} == {4, 8}
    assert {c.model.timm_name for c in cfgs} >= {"test_byobnet", "test_vit"}
    assert {c.train.steps for c in cfgs} == {100, 300}
    assert {c.data.shapes.n_train for c in cfgs} == {1000, 4000}
    assert fang_testbed.reference_ce(scale).name in {s.name for s in specs}


def test_diverse_world_has_more_of_everything_at_equal_size():
    narrow = load_config(RunConfig, None, list(fang_testbed.world_overrides("narrow", 500)))
    diverse = load_config(RunConfig, None, list(fang_testbed.world_overrides("diverse", 500)))
    n, d = narrow.data.shapes, diverse.data.shapes
    assert n.n_train == d.n_train == 500
    assert d.spurious_strength < n.spurious_strength and d.sketch_fraction > n.sketch_fraction
    assert set(d.heldout_colors) < set(n.heldout_colors)
    assert fang_testbed.eval_world(MICRO).spurious_strength == n.spurious_strength


def test_unknown_scale_and_seeds_are_refused(tmp_path):
    with pytest.raises(MMCLError, match="did you mean 'tiny'"):
        fang_testbed.get_scale("tinyy")
    with pytest.raises(MMCLError, match="one seed per model"):
        fang2022.run("tiny", 3, tmp_path)


# ---- cache ------------------------------------------------------------------------------------


def test_cache_key_ignores_name_and_folders_but_not_the_config(tmp_path):
    spec = fang_testbed.supervised_spec("small_cnn", 2, 2, 64)
    a = fang_testbed.settings(MICRO, tmp_path / "a")
    b = dataclasses.replace(a, root=tmp_path / "b", world_cache=str(tmp_path / "w"))
    ka, kb = fang_runs.resolve(spec, a).name, fang_runs.resolve(spec, b).name
    assert ka == kb
    renamed = dataclasses.replace(spec, name="other", group="x")
    assert fang_runs.resolve(renamed, a).name == ka
    wider = fang_testbed.supervised_spec("small_cnn", 3, 2, 64)
    assert fang_runs.resolve(wider, a).name != ka
    # fields that do not change what is learned (logging, evaluation, other methods) keep the key
    quiet = dataclasses.replace(spec, overrides=(*spec.overrides, "train.log_every=7",
                                                 "eval.probe_train_size=99"))  # fmt: skip
    assert fang_runs.resolve(quiet, a).name == ka
    faster = dataclasses.replace(spec, overrides=(*spec.overrides, "train.lr=0.01"))
    assert fang_runs.resolve(faster, a).name != ka


def test_runs_are_trained_once_and_reused(tmp_path, monkeypatch):
    setup = fang_testbed.settings(MICRO, tmp_path)
    specs = fang_testbed.testbed_specs(MICRO)[:2]
    points, records = fang_runs.collect(specs, setup)
    assert [p.label for p in points] == [s.name for s in specs]
    assert all(set(p.ood) == set(SHIFTS) and 0 <= p.id_acc <= 1 for p in points)
    assert {r["split"] for r in records} == {"id", *SHIFTS}
    assert all(r["n_samples"] == MICRO.n_test for r in records)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr("mmcl.train.trainer.train", no_training)
    again, _ = fang_runs.collect(specs, setup)
    assert [(p.id_acc, p.ood) for p in again] == [(p.id_acc, p.ood) for p in points]
    # a new evaluation of a cached run loads its checkpoint, no training
    probe = dataclasses.replace(specs[0], evals=(fang_runs.CLASSIFIER, fang2022.PROBE_ID))
    more, _ = fang_runs.collect([probe], setup)
    assert [p.label for p in more] == [f"{probe.name}/head", f"{probe.name}/probe-id"]
    assert more[0].id_acc == points[0].id_acc


# ---- comparisons on fabricated points ---------------------------------------------------------


def _line(x: np.ndarray) -> np.ndarray:
    """The known baseline: logit(y) = 0.9 logit(x) - 0.5."""
    return special.expit(0.9 * special.logit(x) - 0.5)


def _point(label: str, x: float, er_pp: float = 0.0, baseline: bool = False) -> ModelPoint:
    y = float(_line(np.array(x))) + er_pp / 100
    return ModelPoint(label, x, dict.fromkeys(SHIFTS, y), baseline=baseline)


def _fake_points(er: dict[str, float]) -> tuple[list[ModelPoint], list[Comparison]]:
    """Testbed points on the line (tiny scale's grid) plus every cause point at its ER."""
    scale = fang_testbed.get_scale("tiny")
    xs = np.linspace(0.3, 0.8, len(fang_testbed.testbed_specs(scale)))
    points = [_point(s.name, x, baseline=True)
              for s, x in zip(fang_testbed.testbed_specs(scale), xs, strict=True)]  # fmt: skip
    specs, comparisons = fang2022.cause_specs(scale)
    labels = [s.label(e) for s in specs for e in s.evals]
    rng = np.random.default_rng(0)
    points += [_point(lab, float(rng.uniform(0.35, 0.75)), er.get(lab, 0.0)) for lab in labels]
    return points, comparisons


def _claims(er: dict[str, float]) -> dict[str, dict]:
    points, comparisons = _fake_points(er)
    _, _, claims = fang_causes.analyse(points, SHIFTS, comparisons, 100_000,
                                       RobustnessConfig(bootstrap=200))  # fmt: skip
    return {c["id"]: c for c in claims}


def test_five_causes_are_listed_with_their_points():
    _, comparisons = fang2022.cause_specs(fang_testbed.get_scale("tiny"))
    assert [c.cause for c in comparisons] == ["i", "ii", "iii", "iv", "v"]
    assert [c.expect for c in comparisons].count("differ") == 1
    size = comparisons[0]
    assert size.treatment == "clip-narrow-n1000" and size.control == "clip-narrow-n4000"
    assert comparisons[3].treatment == "clip-diverse/probe-train"


def test_paper_pattern_holds_everywhere():
    claims = _claims({"clip-diverse/zeroshot": 15.0, "clip-diverse/probe-train": 14.0,
                      "clip-label-diverse": 13.0, "ce-cnn8-s300-n4000-diverse": 12.0})  # fmt: skip
    assert all(c["held"] for c in claims.values()), claims
    f2 = claims["F2-distribution"]["values"]
    assert f2["delta"] == pytest.approx(15.0, abs=0.05)
    assert set(claims) == {"F0-line", "F1-size", "F2-distribution", "F3-language-train",
                           "F4-language-test", "F5-loss", "F-main"}  # fmt: skip


def test_each_claim_fails_when_its_numbers_say_so():
    claims = _claims({"clip-narrow-n4000": 10.0, "clip-diverse/zeroshot": 10.0,
                      "clip-diverse/probe-train": 0.0, "clip-label-diverse": 9.0})  # fmt: skip
    assert not claims["F2-distribution"]["held"]  # diverse no higher than narrow
    assert not claims["F1-size"]["held"]  # n1000 at 0, n4000 at +10: ER moved with size
    assert not claims["F3-language-train"]["held"]  # CLIP +10 over CE on the same images
    assert not claims["F4-language-test"]["held"]  # the head lost the ER of the prompts
    assert not claims["F5-loss"]["held"]  # contrastive +9 over CE on the same data
    assert not claims["F-main"]["held"]


def _effect(delta: float, ci: tuple[float, float], expect: str) -> Effect:
    comparison = Comparison("X", "x", "", "", "a", "b", expect)
    return Effect(comparison, {"a": delta, "b": 0.0}, {}, delta, ci)


def test_held_rules_both_ways():
    assert fang_causes.is_held(_effect(5.0, (1.0, 9.0), "differ"), 5.0)
    assert not fang_causes.is_held(_effect(5.0, (-1.0, 9.0), "differ"), 5.0)
    assert fang_causes.is_held(_effect(2.0, (-1.0, 5.0), "same"), 0.0)  # interval holds 0
    assert fang_causes.is_held(_effect(2.0, (1.0, 3.0), "same"), 9.0)  # <= a third of 9
    assert not fang_causes.is_held(_effect(4.0, (3.0, 5.0), "same"), 9.0)
    assert not fang_causes.is_held(_effect(-4.0, (-5.0, -3.0), "same"), 9.0)


def test_delta_interval_matches_direct_computation():
    pts = [_point(f"b{i}", x, baseline=True) for i, x in enumerate(np.linspace(0.3, 0.8, 8))]
    pts += [_point("t", 0.6, 7.0), _point("c", 0.5, 1.0)]
    cfg = RobustnessConfig(bootstrap=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compute_robustness(pts, SHIFTS, cfg)
    tfit = res.fits["avg3"]
    # with huge test sets only the line varies: the interval is that of the paired differences
    lo, hi = fang_causes.delta_interval(pts[-2], pts[-1], tfit, cfg, 10**12)
    t = lambda x: special.logit(x)  # noqa: E731
    lines = tfit.coeffs[:, :1] + tfit.coeffs[:, 1:] * t(np.array([0.6, 0.5]))  # (B, 2)
    y = np.array([pts[-2].ood[SHIFTS[0]], pts[-1].ood[SHIFTS[0]]])
    diff = 100 * ((y - special.expit(lines)) @ np.array([1.0, -1.0]))  # (B,)
    assert lo == pytest.approx(np.percentile(diff, 2.5), abs=1e-3)
    assert hi == pytest.approx(np.percentile(diff, 97.5), abs=1e-3)
    assert lo <= 6.0 <= hi
    # small test sets widen it
    lo_n, hi_n = fang_causes.delta_interval(pts[-2], pts[-1], tfit, cfg, 200)
    assert hi_n - lo_n > hi - lo + 1.0


def test_degenerate_inputs_give_clear_errors():
    points, comparisons = _fake_points({})
    flat = [dataclasses.replace(p, id_acc=0.1) if p.baseline else p for p in points]
    with pytest.raises(MMCLError, match="every baseline model has ID accuracy 10.0 %"):
        fang_causes.analyse(flat, SHIFTS, comparisons, 100)
    with pytest.raises(MMCLError, match="exactly one 'differ'"):
        fang_causes.analyse(points, SHIFTS, comparisons[:1], 100)
    missing = [p for p in points if p.label != "clip-label-diverse"]
    with pytest.raises(MMCLError, match=r"cause v: no avg3 ER for \['clip-label-diverse'\]"):
        fang_causes.analyse(missing, SHIFTS, comparisons, 100, RobustnessConfig(bootstrap=0))
    few = [p for p in points if not p.baseline][:] + [p for p in points if p.baseline][:2]
    with pytest.raises(MMCLError, match="at least 3"):
        fang_causes.analyse(few, SHIFTS, comparisons, 100, RobustnessConfig(bootstrap=0))


def test_json_safe_replaces_nan():
    assert fang2022.json_safe({"r": float("nan"), "v": [1.0, float("inf")]}) == {
        "r": None,
        "v": [1.0, None],
    }


# ---- end to end through the CLI (micro sizes) ------------------------------------------------


@pytest.mark.slow
def test_repro_and_testbed_commands_end_to_end(tmp_path, monkeypatch, capsys):
    import json

    from mmcl.cli import main
    from mmcl.eval.tasks import read_results

    # enough steps that the testbed's models differ (a line through one point is refused)
    scale = dataclasses.replace(MICRO, n_test=64, width=4, steps=8, testbed_steps=(2, 8))
    monkeypatch.setitem(fang_testbed.SCALES, "tiny", scale)
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    assert main(["testbed", "shapes", "--scale", "tiny", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "ce-cnn2-s2-n64" in text and "line (logit axes, avg3)" in text
    out = tmp_path / "out"
    assert main(["repro", "fang2022", "--scale", "tiny", "--json", "--out", str(out)]) == 0
    claims = json.loads(capsys.readouterr().out)
    causes = ["F1-size", "F2-distribution", "F3-language-train", "F4-language-test", "F5-loss"]
    assert [c["id"] for c in claims] == ["F0-line", *causes, "F-main"]
    assert all(isinstance(c["held"], bool) for c in claims)
    doc = read_results(out / "results.json")
    assert [c["id"] for c in doc["meta"]["claims"]] == [c["id"] for c in claims]
    assert {r["model"] for r in doc["records"]} >= {"clip-diverse/probe-id", "ce-cnn2-s2-n64"}
    page = (out / "report.html").read_text()
    assert "F2-distribution" in page and "data:image/png;base64" in page
    assert (out / "scatter_avg3.png").is_file()
