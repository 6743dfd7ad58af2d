"""mcl2024: claims decided from the measurements by their stated rules; the pipeline end to end."""

from __future__ import annotations

import json

import pytest

from mmcl.cli import main
from mmcl.eval.tasks import read_results
from mmcl.experiments import mcl2024

ATTRS = mcl2024.PROBED


def _probes(color, shape, texture):
    return {"color": color, "shape": shape, "texture": texture, "size": 0.6, "position": 0.5}


def _nmi(color, other):
    return {"color": color, "shape": other, "texture": other, "size": 0.0, "position": 0.0}


def _measurements(works: bool) -> dict:
    s1 = _probes(0.98, 0.3, 0.35)
    s2 = _probes(0.5, 0.7, 0.6) if works else _probes(0.98, 0.3, 0.34)
    concat = _probes(0.98, 0.72, 0.62) if works else _probes(0.9, 0.3, 0.3)
    return {
        "probes": {
            "stage1": s1,
            "stage2": s2,
            "concat": concat,
            "control_concat": _probes(0.98, 0.33, 0.36),
        },
        "nmi": {
            "stage1_clusters": _nmi(0.9, 0.01) if works else _nmi(0.2, 0.15),
            "stage2_clusters": _nmi(0.05, 0.3),
            "stage3_groups": _nmi(0.8, 0.2),
            "stage3_groups_latest_only": _nmi(0.05, 0.3) if works else _nmi(0.9, 0.3),
        },
    }


def test_claims_hold_when_the_effects_are_there_and_fail_when_not():
    good = {c["id"]: c["held"] for c in mcl2024.simclr_claims(_measurements(True), 2)}
    bad = {c["id"]: c["held"] for c in mcl2024.simclr_claims(_measurements(False), 2)}
    assert all(good.values()), good
    assert not any(v for k, v in bad.items() if k != "S1-suppression"), bad
    assert bad["S1-suppression"]  # the baseline itself suppresses in both cases


def test_mmvp_claim_uses_the_weakest_and_strongest_attribute():
    clip = {"color": 90.0, "shape": 20.0, "texture": 40.0, "mean": 50.0}
    better = {"color": 86.7, "shape": 40.0, "texture": 40.0, "mean": 55.6}
    worse = {"color": 60.0, "shape": 40.0, "texture": 40.0, "mean": 46.7}
    assert mcl2024.clip_claim({"clip": clip, "mcl_clip": better}, 30)["held"]
    assert not mcl2024.clip_claim({"clip": clip, "mcl_clip": worse}, 30)["held"]


@pytest.mark.slow
def test_repro_end_to_end_at_a_micro_scale(monkeypatch, tmp_path, capsys, world_cache):
    micro = mcl2024.Scale(
        n_train=256, n_test=64, steps=3, width=4, batch_size=64, stages=2, clip_steps=3,
        mmvp_pairs=2, threads=1,
    )  # fmt: skip
    monkeypatch.setitem(mcl2024.SCALES, "tiny", micro)
    monkeypatch.setenv("MMCL_CACHE", world_cache)
    out = tmp_path / "repro"
    assert main(["repro", "mcl2024", "--scale", "tiny", "--out", str(out), "--json"]) == 0
    claims = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in claims][-1] == "M1-mmvp" and len(claims) == 7
    assert all(set(c) == {"id", "statement", "paper", "ours", "held"} for c in claims)
    assert all(isinstance(c["held"], bool) for c in claims)
    records = read_results(out / "results.json")["records"]
    models = {r["model"] for r in records if r["task"] == "attributes"}
    assert {"simclr-stage1", "simclr-stage2", "simclr-concat", "simclr-control_concat"} <= models
    patterns = {r["pattern"] for r in records if r["task"] == "mmvp"}
    assert {"color", "shape", "texture", "mean"} <= patterns
    assert (out / "report.html").is_file() and (out / "plots" / "mmvp_per_pattern.png").is_file()
