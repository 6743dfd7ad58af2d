"""fang2022 follows the run's world: `--set data.world=fashion` makes the testbed, the cause runs,
the evaluation world, the held-out check, chance and the gate all the fashion world's, while a
shapes run keeps its configs and cache keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mmcl.cli.testbed import TESTBED_WORLDS
from mmcl.config import load_config
from mmcl.data.worlds import WORLDS
from mmcl.data.worlds.fashion import FashionConfig
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.experiments.fang2022 import causes, runner, runs, scales, testbed
from mmcl.train.config import RunConfig

FASHION = ("data.world=fashion",)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
MICRO = scales.FangScale(
    n_train=64, n_test=32, steps=2, width=2, batch_size=32,
    testbed_widths=(2,), testbed_steps=(2,), testbed_sizes=(), testbed_archs=(),
    seeds=(0,), bootstrap=20, jobs=1,
    text=("model.text_width=16", "model.text_layers=1", "model.text_heads=2",
          "model.embed_dim=8"),
)  # fmt: skip


def _specs(scale: scales.FangScale) -> list[runs.RunSpec]:
    return [*testbed.testbed_specs(scale), *causes.cause_specs(scale, scale.seeds)]


def test_a_fashion_run_trains_and_scores_every_model_on_the_fashion_world(tmp_path):
    scale = scales.get_scale("tiny")
    setup = testbed.settings(scale, tmp_path, overrides=FASHION)
    evaluation = setup.eval_world
    assert isinstance(evaluation, FashionConfig)
    assert (evaluation.n_train, evaluation.n_test) == (scale.n_train, scale.n_test)
    assert evaluation.spurious_strength == testbed.NARROW["spurious_strength"]
    assert evaluation.seen_colors == testbed.NARROW["seen_colors"]
    assert evaluation.heldout_colors == testbed.HELDOUT_COLORS
    assert evaluation.label == "item" and testbed.chance(evaluation) == pytest.approx(0.1)
    worlds = [runs.resolve(s, setup).data.world_config() for s in _specs(scale)]
    assert all(isinstance(w, FashionConfig) for w in worlds)
    strengths = {w.spurious_strength for w in worlds}
    assert strengths == {testbed.NARROW["spurious_strength"], testbed.DIVERSE["spurious_strength"]}
    # the gate's runs are on fashion too (the gate strips method and eval, never the world)
    assert "data.world=fashion" in testbed.gate_budget(scale, FASHION)


def test_a_shapes_run_keeps_its_world_configs_and_keys(tmp_path):
    scale = scales.get_scale("tiny")
    plain = testbed.settings(scale, tmp_path)
    named = testbed.settings(scale, tmp_path, overrides=("data.world=shapes",))
    assert type(plain.eval_world) is ShapesConfig
    assert plain.eval_world == testbed.world_config("narrow", scale.n_train, scale.n_test)
    assert named.eval_world == plain.eval_world
    fashion = testbed.settings(scale, tmp_path, overrides=FASHION)
    ref = testbed.reference_ce(scale)
    key = runs.resolve(ref, plain).name
    assert runs.resolve(ref, named).name == key  # `mmcl testbed shapes` names its world
    assert runs.resolve(ref, fashion).name != key
    assert runs.eval_path(runs.resolve(ref, fashion), runs.CLASSIFIER, fashion) != runs.eval_path(
        runs.resolve(ref, plain), runs.CLASSIFIER, plain
    )
    assert "world_options" not in runs.key_payload(runs.resolve(ref, plain))["data"]


def test_fashion_options_reach_the_evaluation_world_and_the_cache_key(tmp_path):
    scale = scales.get_scale("tiny")
    root = "data.world_options.root=/elsewhere"
    setup = testbed.settings(scale, tmp_path, overrides=(*FASHION, root))
    assert setup.eval_world.root == "/elsewhere"
    ref = testbed.reference_ce(scale)
    default = testbed.settings(scale, tmp_path, overrides=FASHION)
    assert runs.resolve(ref, setup).name != runs.resolve(ref, default).name


def test_held_out_check_reads_the_fashion_runs_and_sees_an_override_leak(tmp_path):
    specs = _specs(MICRO)
    setup = testbed.settings(MICRO, tmp_path, overrides=FASHION)
    assert runner.held_out_checks(specs, setup)[0]["passed"]
    sketches = (*FASHION, "data.shapes.sketch_fraction=0.2")
    leaky = testbed.settings(MICRO, tmp_path, overrides=sketches)
    row = runner.held_out_checks(specs, leaky)[0]
    assert not row["passed"] and row["detail"].endswith("found: sketches (20% of training)")


def test_the_gate_learns_the_fashion_item_to_the_fashion_bar(tmp_path, monkeypatch):
    from mmcl.experiments import calibrated

    seen = {}

    def sweep(base, grid, out_dir, overrides, jobs):
        seen["overrides"] = overrides
        return {"rows": [{"split": "id", "metric": "accuracy", "per_seed": [0.9],
                          "mean": 0.9, "interval": [0.8, 1.0]}]}  # fmt: skip

    monkeypatch.setattr(calibrated, "run_sweep", sweep)
    scale = scales.get_scale("tiny")
    fashion = testbed.settings(scale, tmp_path, overrides=FASHION)
    gate = runner.world_gate(tmp_path, testbed.gate_budget(scale, FASHION), fashion)
    assert gate["attribute"] == "item" and "fashion world" in gate["statement"]
    assert gate["threshold"] == calibrated.WORLD_GATES["fashion"].accuracy
    cfg = load_config(RunConfig, None, seen["overrides"])
    world = cfg.data.world_config()
    assert isinstance(world, FashionConfig) and world.label == "item"
    assert world.spurious_strength == calibrated.UNCORRELATED
    assert (cfg.method.name, cfg.train.steps, cfg.model.width) == ("supervised", 450, 8)
    shapes = runner.world_gate(tmp_path, testbed.gate_budget(scale), testbed.settings(scale))
    assert shapes["attribute"] == "shape" and shapes["threshold"] == calibrated.LEARNABLE_ACCURACY
    assert "data.shapes.label=shape" in seen["overrides"]


def test_the_testbed_command_offers_the_worlds_the_study_runs_on():
    for name in WORLDS.names():
        if name in TESTBED_WORLDS:
            assert testbed.run_world([f"data.world={name}"]).name == name
        else:
            with pytest.raises(MMCLError, match="fang2022 needs a world"):
                testbed.run_world([f"data.world={name}"])
    assert set(TESTBED_WORLDS) <= set(WORLDS.names())


def test_a_world_without_the_shift_splits_is_refused(monkeypatch):
    fashion = WORLDS.get("fashion")
    kept = {k: v for k, v in fashion.splits.items() if k not in runs.SHIFTS}
    bare = dataclasses.replace(fashion, splits=kept)
    monkeypatch.setattr(WORLDS, "get", lambda name: bare if name == "fashion" else fashion)
    with pytest.raises(MMCLError, match="lacks split sketch, split unseen_colors"):
        testbed.run_world((*FASHION, "eval.splits=[id]"))  # the config's own check comes first


def test_fashion_runs_are_scored_on_fashion_images(tmp_path, monkeypatch, fashion_root):
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    own = (*FASHION, f"data.world_options.root={fashion_root}")  # the session's idx photos
    setup = testbed.settings(MICRO, tmp_path, overrides=own)
    points, records = runs.collect([testbed.reference_ce(MICRO)], setup)
    assert {r["dataset"] for r in records} == {"fashion"}
    assert {r["split"] for r in records} == {runs.ID_SPLIT, *runs.SHIFTS}
    assert all(r["n_samples"] == MICRO.n_test for r in records)
    assert np.isfinite([points[0].id_acc, *points[0].ood.values()]).all()


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_FASHION.exists(), reason="Fashion-MNIST (Debian's "
                    "dataset-fashion-mnist) is not installed")  # fmt: skip
def test_repro_on_fashion_end_to_end(tmp_path, monkeypatch):
    from mmcl.experiments.registry import run_paper

    # enough steps that the testbed's models differ (a line through one point is refused)
    scale = dataclasses.replace(
        MICRO, n_train=256, n_test=128, width=4, steps=60, testbed_steps=(1, 60),
        snapshot_every=15, seeds=(0, 1), recipe=("train.lr=0.005",),
    )  # fmt: skip
    monkeypatch.setitem(scales.SCALES, "tiny", scale)
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    result = run_paper("fang2022", "tiny", None, tmp_path / "out", FASHION)
    assert result["meta"]["world"] == "fashion"
    assert {r["dataset"] for r in result["records"]} == {"fashion"}
    assert [c["id"] for c in result["checks"]] == ["C1-shifts-held-out", "gate-item"]
    assert result["checks"][0]["passed"]
    assert all(c["verdict"] in ("held", "not held", "inconclusive") for c in result["claims"])
    assert all(c["precondition"]["status"] for c in result["claims"])
