"""mcl2024 end to end at a micro scale: every run trains, every claim gets a verdict."""

from __future__ import annotations

import json

import pytest

from mmcl.eval.tasks import read_results, unpack_correct
from mmcl.experiments.mcl2024 import scales
from mmcl.experiments.mcl2024.claims import TRIFEATURE
from mmcl.experiments.registry import run_paper
from mmcl.stats import PER_SEED, VERDICTS

MICRO = scales.Scale(
    n_train=256, n_test=64, steps=3, width=4, batch_size=64, stages=3, clip_steps=3,
    mmvp_pairs=2, seeds=(0, 1), jobs=1,
)  # fmt: skip


def test_scales_need_three_stages_for_the_latest_only_claim():
    with pytest.raises(Exception, match="3 SimCLR stages"):
        scales.Scale(**{**MICRO.__dict__, "stages": 2})


def test_the_wide_baseline_has_the_backbone_width_of_two_stages(tmp_path):
    cfgs = scales.run_configs(MICRO, 0, tmp_path, ["model.width=6"])
    assert cfgs["simclr-mcl"].model.width == 6 and cfgs["simclr-wide"].model.width == 12
    assert cfgs["simclr-mcl-latest"].method.mcl.latest_only
    assert cfgs["simclr-control"].train.seed == cfgs["simclr-mcl"].train.seed + 1


@pytest.mark.slow
def test_repro_end_to_end_at_a_micro_scale(monkeypatch, tmp_path, world_cache):
    monkeypatch.setitem(scales.SCALES, "tiny", MICRO)
    monkeypatch.setenv("MMCL_CACHE", world_cache)
    out = tmp_path / "repro"
    result = run_paper("mcl2024", "tiny", None, out)
    ids = [c["id"] for c in result["claims"]]
    assert len(ids) == 11 and ids[-2:] == ["M1-mmvp-suppressed", "M2-mmvp-dominant"]
    assert [i for i in ids if i.startswith("S4")] == [f"S4-concat-{a}" for a in TRIFEATURE]
    for c in result["claims"]:  # one family, decided once, each row saying what would fail it
        assert c["verdict"] in VERDICTS and c["n_seeds"] == 2 and c["family_size"] == 11
        assert c["test"] == PER_SEED and c["fails_if"] and c["precondition"]["status"]
        assert c["verdict"] == "inconclusive" or not c["exact"]
    gates = ["gate-color", "gate-shape", "gate-texture"]
    assert [c["id"] for c in result["checks"]] == ["mmvp-identical-copies", *gates]
    if not all(c["passed"] for c in result["checks"][1:]):  # some attribute not learnable
        assert all(c["verdict"] == "inconclusive" for c in result["claims"])
        assert all(c["precondition"]["status"] == "failed" for c in result["claims"])
    assert result["checks"][0]["passed"]
    saved = json.loads((out / "claims.json").read_text())
    assert saved["claims"] == json.loads(json.dumps(result["claims"]))
    records = read_results(out / "results.json")["records"]
    probes = [r for r in records if r["task"] == "attributes"]
    assert all(unpack_correct(r).mean() == pytest.approx(r["value"]) for r in probes)
    models = {r["model"] for r in probes}
    assert {"stage1", "stage3_latest_only", "concat_2", "control_concat", "wide", "clip"} <= models
    assert {r["seed"] for r in records} == {0, 1}
    assert (out / "report.html").is_file() and (out / "plots" / "mmvp_per_attribute.png").is_file()
    # The latest_only run shares stages 1-2 with the accumulated run and trains its own stage 3.
    latest = out / "seed_0" / "simclr-mcl-latest"
    assert (latest / "stage_3" / "clusters.pt").is_file()
