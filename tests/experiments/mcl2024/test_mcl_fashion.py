"""mcl2024 on `--set data.world=fashion`: the runs, probes, claims and gates follow the world.

The claims are decided from fabricated per-seed numbers (as in test_mcl_claims); the slow test
runs the whole paper at a micro scale on the few idx files the session writes (`fashion_root`).
"""

from __future__ import annotations

import numpy as np
import pytest

from mmcl.config import load_config
from mmcl.data.worlds import fashion_mnist
from mmcl.data.worlds.fashion import FashionConfig
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.calibrated import gate_overrides
from mmcl.experiments.mcl2024 import claims, runner, scales
from mmcl.experiments.mcl2024.measure import cluster_nmi, probed
from mmcl.experiments.mcl2024.roles import SHAPES, roles_for
from mmcl.experiments.registry import run_paper
from mmcl.stats import FAILED, HELD, INCONCLUSIVE, MET
from mmcl.train.config import RunConfig
from mmcl.verdicts import decide_families

MICRO = scales.Scale(
    n_train=256, n_test=64, steps=3, width=4, batch_size=64, stages=3, clip_steps=3,
    mmvp_pairs=2, seeds=(0, 1), jobs=1,
)  # fmt: skip
FASHION = ("data.world=fashion",)
ROLES = roles_for(FashionConfig(spurious_strength=0.1))
MODELS = ("stage1", "stage2", "stage3", "stage3_latest_only", "concat", "concat_2",
          "control_concat", "wide", "clip", "mcl_clip")  # fmt: skip
N = 1000


def test_every_run_trains_on_fashion_with_the_background_independent_of_the_item(tmp_path):
    for name, cfg in scales.run_configs(MICRO, 0, tmp_path, FASHION).items():
        world = cfg.data.world_config()
        assert cfg.data.world == "fashion", name
        assert (world.canvas, world.spurious_strength, world.label) == ("scene", 0.1, "item")
        assert probed(cfg) == ("color", "item", "background")
    shapes = scales.run_configs(MICRO, 0, tmp_path)["simclr-mcl"]  # shapes keeps its canvas
    assert shapes.data.world == "shapes" and shapes.data.shapes.canvas == "grey"
    grey = scales.run_configs(MICRO, 0, tmp_path, [*FASHION, "data.shapes.canvas=grey"])
    assert probed(grey["clip-mcl"]) == ("color", "item")  # the user's override comes last


def test_fashion_roles_put_the_item_where_the_spec_has_shape():
    assert (ROLES.dominant, ROLES.suppressed) == ("color", ("item",))
    assert ROLES.trifeature == ("color", "item", "background") and "texture" in ROLES.absent
    # Chance over the values the balanced split draws: 8 seen tints, 10 training backgrounds.
    assert ROLES.chance == pytest.approx({"color": 1 / 8, "item": 1 / 10, "background": 1 / 10})
    assert SHAPES.trifeature == claims.TRIFEATURE == ("color", "shape", "texture")


def _seed(seed: int, p: float = 0.5) -> dict:
    """Every probe right on a fraction p of the samples, NMIs 0.1, 15 of 30 pairs right."""
    bits = pack_correct(np.arange(N) % round(1 / (1 - p)) != 0) if p < 1 else None
    attrs = ROLES.trifeature
    return {
        "seed": seed,
        "n_probe_test": N,
        "probes": {m: dict.fromkeys(attrs, p) for m in MODELS},
        "correct": {m: dict.fromkeys(attrs, bits) for m in MODELS},
        "nmi": {f"{c}_clusters": dict.fromkeys(attrs, 0.1)
                for c in ("stage1", "stage2", "stage3", "stage3_latest_only")},
        "mmvp": {m: {a: [True] * 15 + [False] * 15 for a in attrs}
                 for m in ("clip", "mcl_clip", "clip_twice")},
    }  # fmt: skip


def test_fashion_claims_ask_about_the_item_and_report_texture_not_answerable():
    raw = [_seed(s) for s in range(3)]
    raw[0]["nmi"]["stage1_clusters"]["item"] = 0.7  # S2 reads the item's NMI, not shape's
    rows = decide_families([*claims.claim_rows(raw, ROLES), *claims.absent_rows(ROLES)])
    ids = [r["id"] for r in rows]
    assert ids == ["S1-suppression", "S2-clusters", "S3-stage2", "S4-concat-color",
                   "S4-concat-item", "S4-concat-background", "S5-control", "S5-width",
                   "S6-latest-only", "M1-mmvp-suppressed", "M2-mmvp-dominant",
                   "S4-concat-texture"]  # fmt: skip
    by_id = {r["id"]: r for r in rows}
    assert "colour clearly above item" in by_id["S1-suppression"]["statement"]
    assert "NMI(colour) - NMI(item)" in by_id["S2-clusters"]["fails_if"]
    assert by_id["S2-clusters"]["per_seed"][0] == pytest.approx(0.1 - 0.7)
    assert "texture has no counterpart" in by_id["S3-stage2"]["statement"]
    asked = [r for r in rows if r["id"] != "S4-concat-texture"]
    assert {r["family_size"] for r in asked} == {11}  # the claim never asked weighs on none
    assert all(r["precondition"]["status"] == MET for r in asked)  # 0.5 is far above chance
    texture = by_id["S4-concat-texture"]
    assert texture["verdict"] == INCONCLUSIVE and texture["precondition"]["status"] == FAILED
    assert texture["family_size"] == 1 and texture["estimate"] is None
    assert texture["why"].startswith("not answerable here") and "no texture" in texture["why"]


def test_fashion_preconditions_use_fashions_chance():
    raw = [_seed(s) for s in range(3)]
    for r in raw:  # the tint probed at 0.16: above 1/10 + 0.05, not above 1/8 + 0.05
        r["correct"]["stage1"]["color"] = pack_correct(np.arange(N) % 25 < 4)
    rows = {r["id"]: r for r in claims.claim_rows(raw, ROLES)}
    assert rows["S2-clusters"]["precondition"]["status"] == FAILED
    on_shapes = claims.learned(raw, ("color",), ("stage1",))  # shapes' colour chance: 1/10
    assert on_shapes["status"] == MET


def test_the_mmvp_claims_name_fashions_attributes():
    raw = [_seed(s) for s in range(3)]
    for right, r in zip((24, 25, 26), raw, strict=True):  # CLIP probes the item worst
        r["probes"]["clip"].update(color=0.9, item=0.3, background=0.6)
        r["mmvp"]["mcl_clip"]["item"] = [True] * right + [False] * (30 - right)
    m1 = next(r for r in claims.claim_rows(raw, ROLES) if r["id"] == "M1-mmvp-suppressed")
    assert m1["raw_verdict"] == HELD and "item 0.50->0.80, item 0.50->0.83" in m1["ours"]


def test_cluster_nmi_skips_an_attribute_the_split_does_not_show():
    class Split:
        attributes = {"color": __import__("torch").tensor([0, 1, 0, 1])}

    assert set(cluster_nmi(Split, np.array([0, 1, 0, 1]), ("color", "background"))) == {"color"}


def test_the_gates_train_each_fashion_attribute_as_the_label(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "learnability_gate", lambda out, **kw: calls.append(kw) or kw)
    runner.attribute_gates(MICRO, tmp_path, FASHION, ROLES)
    assert [c["attribute"] for c in calls] == ["color", "item", "background"]
    for c in calls:
        cfg = load_config(RunConfig, None, gate_overrides(c["budget"], c["attribute"]))
        world = cfg.data.world_config()
        assert cfg.data.world == "fashion" and world.label == c["attribute"]
        assert (world.canvas, world.spurious_strength) == ("scene", 0.1)


@pytest.mark.slow
def test_repro_on_fashion_end_to_end_at_a_micro_scale(monkeypatch, tmp_path, fashion_root):
    monkeypatch.setitem(scales.SCALES, "tiny", MICRO)
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    fashion_mnist.load_part.cache_clear()
    out = tmp_path / "repro"
    result = run_paper(
        "mcl2024", "tiny", None, out, [*FASHION, f"data.world_options.root={fashion_root}"]
    )
    ids = [c["id"] for c in result["claims"]]
    assert "S4-concat-item" in ids and "S4-concat-shape" not in ids
    assert ids[-1] == "S4-concat-texture" and len(ids) == 12
    assert [c["id"] for c in result["checks"]][1:] == [
        "gate-color", "gate-item", "gate-background"
    ]  # fmt: skip
    records = result["records"]
    assert {r["dataset"] for r in records} == {"fashion-mnist-composited"}
    assert {r["pattern"] for r in records if r["task"] == "mmvp"} == set(ROLES.trifeature)
    assert result["checks"][0]["passed"]  # CLIP twice scores every pair as CLIP does
