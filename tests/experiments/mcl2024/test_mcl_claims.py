"""mcl2024 claims: each decided from fabricated per-seed numbers by its fixed rule.

For every claim a setter puts the claim's per-seed figure at (its rule's threshold + d): a clear
effect (d well above 0 on every seed) must give "held", the reverse "not held", and noise (d of
both signs) "inconclusive". Test-sample errors are those of the real scale (1000 probe samples,
30 pairs per attribute).
"""

from __future__ import annotations

import copy

import pytest

from mmcl.experiments.mcl2024 import claims
from mmcl.stats import HELD, INCONCLUSIVE, NOT_HELD

ATTRS = ("color", "shape", "texture", "size", "position")
MODELS = ("stage1", "stage2", "stage3", "stage3_latest_only", "concat", "concat_2",
          "control_concat", "wide", "clip")  # fmt: skip
CLUSTERINGS = ("stage1_clusters", "stage2_clusters", "stage3_clusters",
               "stage3_latest_only_clusters")  # fmt: skip
N_PAIRS = 30

CLEAR = [0.15, 0.17, 0.13, 0.16, 0.14]
NOISE = [0.15, -0.15, 0.1, -0.1, 0.0]


def _pairs(n_right: int) -> list[bool]:
    return [True] * n_right + [False] * (N_PAIRS - n_right)


def neutral_seed(seed: int) -> dict:
    """Every probe 0.5, every NMI 0.1, every model right on 15 of 30 pairs per attribute."""
    return {
        "seed": seed,
        "n_probe_test": 1000,
        "probes": {m: dict.fromkeys(ATTRS, 0.5) for m in MODELS},
        "nmi": {c: dict.fromkeys(ATTRS, 0.1) for c in CLUSTERINGS},
        "mmvp": {m: {a: _pairs(15) for a in ATTRS[:3]} for m in ("clip", "mcl_clip", "clip_twice")},
    }


def _set_mmvp(r: dict, attribute: str, d: float) -> None:
    """MCL-CLIP right on round(d * 30) more pairs of `attribute` than CLIP (15 of 30)."""
    r["mmvp"]["mcl_clip"][attribute] = _pairs(15 + round(d * N_PAIRS))


def _s0(r, d):
    for a in claims.SUPPRESSED:
        r["probes"]["concat"][a] = claims.chance(a) + claims.LEARNABLE_MARGIN + d / 2


def _s1(r, d):
    r["probes"]["stage1"].update(color=0.3 + claims.SUPPRESSION_GAP + d, shape=0.3, texture=0.4)


def _s2(r, d):
    r["nmi"]["stage1_clusters"].update(color=0.1 + claims.NMI_GAP + d, shape=0.1, texture=0.05)


def _s3(r, d):
    for a in claims.SUPPRESSED:
        r["probes"]["stage1"][a] = 0.3
        r["probes"]["stage2"][a] = 0.3 + claims.MIN_GAIN + d


def _s4(r, d):
    r["probes"]["stage2"]["shape"] = 0.7  # the best stage on shape
    r["probes"]["concat"] = {a: 0.5 - claims.MIN_GAIN + d for a in ATTRS}
    r["probes"]["concat"]["shape"] = 0.7 - claims.MIN_GAIN + d


def _s5c(r, d):
    for a in claims.SUPPRESSED:
        r["probes"]["concat_2"][a] = 0.52 + d


def _s5w(r, d):
    for a in claims.SUPPRESSED:
        r["probes"]["wide"][a] = 0.48 - d


def _s6(r, d):
    r["probes"]["stage3_latest_only"]["color"] = 0.52 + d


def _m1(r, d):
    r["probes"]["clip"].update(color=0.9, shape=0.2, texture=0.4)  # shape: probed worst
    _set_mmvp(r, "shape", 2 * d)


def _m2(r, d):
    r["probes"]["clip"].update(color=0.9, shape=0.2, texture=0.4)  # colour: probed best
    _set_mmvp(r, "color", -claims.MMVP_NON_INFERIORITY + 2 * d)


SETTERS = {"S0-learnable": _s0, "S1-suppression": _s1, "S2-clusters": _s2, "S3-stage2": _s3,
           "S4-concat": _s4, "S5-control": _s5c, "S5-width": _s5w, "S6-latest-only": _s6,
           "M1-mmvp-suppressed": _m1, "M2-mmvp-dominant": _m2}  # fmt: skip


def _row(claim_id: str, ds: list[float]) -> dict:
    raw = []
    for seed, d in enumerate(ds):
        r = neutral_seed(seed)
        SETTERS[claim_id](r, d)
        raw.append(r)
    return next(row for row in claims.claim_rows(raw) if row["id"] == claim_id)


def test_every_claim_has_a_setter_and_a_full_row():
    rows = claims.claim_rows([neutral_seed(s) for s in range(3)])
    assert [r["id"] for r in rows] == list(SETTERS)
    for r in rows:
        assert r["verdict"] in (HELD, NOT_HELD, INCONCLUSIVE)
        assert r["n_seeds"] == 3 and len(r["interval"]) == 2 and r["rule"] and r["paper"]


@pytest.mark.parametrize("claim_id", list(SETTERS))
def test_clear_effect_holds_reverse_does_not_noise_is_inconclusive(claim_id):
    assert _row(claim_id, CLEAR)["verdict"] == HELD
    assert _row(claim_id, [-d for d in CLEAR])["verdict"] == NOT_HELD
    assert _row(claim_id, NOISE)["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize("claim_id", list(SETTERS))
def test_one_seed_is_inconclusive(claim_id):
    assert _row(claim_id, CLEAR[:1])["verdict"] == INCONCLUSIVE


def test_the_mmvp_attribute_is_named_by_the_probe_not_by_the_pairs():
    raw = []
    for seed in range(5):
        r = neutral_seed(seed)
        r["probes"]["clip"].update(color=0.9, shape=0.2, texture=0.4)  # shape: probed worst
        _set_mmvp(r, "texture", 0.5)  # a large gain, but on an attribute M1 did not name
        raw.append(r)
    row = next(r for r in claims.claim_rows(raw) if r["id"] == "M1-mmvp-suppressed")
    assert row["estimate"] == 0.0 and row["verdict"] != HELD and "shape" in row["ours"]


def test_identical_copies_check_fails_when_one_pair_is_scored_differently():
    raw = [neutral_seed(s) for s in range(3)]
    assert claims.check_rows(raw)[0]["passed"]
    changed = copy.deepcopy(raw)
    changed[1]["mmvp"]["clip_twice"]["shape"][-1] = True
    check = claims.check_rows(changed)[0]
    assert not check["passed"] and check["error"] == pytest.approx(1 / N_PAIRS)
