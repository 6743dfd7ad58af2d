"""zhang2023 claims: every claim's pure decision on fabricated per-seed numbers.

For each claim: a clear effect in the claimed direction gives held, the reversed effect gives not
held, and noise around zero gives inconclusive (for the equivalence claims: a difference near 0
gives held, a consistent large one not held, a wide interval inconclusive).
"""

from __future__ import annotations

import pytest

from mmcl.experiments.zhang2023 import claims, probes
from mmcl.stats import HELD, INCONCLUSIVE, NOT_HELD

CLEAR, REVERSE, NOISE = "clear", "reverse", "noise"
EXPECTED = {CLEAR: HELD, REVERSE: NOT_HELD, NOISE: INCONCLUSIVE}
SHIFTS = ("id", "sketch", "spurious_reversed", "unseen_colors")


# ---- theory -----------------------------------------------------------------------------------
THEORY_EFFECTS = {CLEAR: [0.10, 0.11, 0.09], REVERSE: [-0.10, -0.11, -0.09],
                  NOISE: [0.10, -0.10, 0.02]}  # fmt: skip


def _terms(lam: float, bound: float, probe: float) -> dict:
    return {"lambda_k1": lam, "bound": bound, "probe_error": probe}


def _direction_records(effects: list[float]) -> list[dict]:
    """Per seed: each figure moves by the seed's effect in the claimed direction."""
    levels = [0.0, 0.2, 0.4, 0.6]
    out = []
    for seed, e in enumerate(effects):
        mmcl, sscl = _terms(0.5 + e, 0.5, 0.1), _terms(0.5, 0.5 + e, 0.1 + e)
        row = {"noise": 0.01, "overlap": 0.05, "matched": True, "mmcl": mmcl, "sscl": sscl}
        out.append({
            "seed": seed,
            "noise": {"levels": levels, "probe_error": [0.2 + e * x for x in levels]},
            "sharing": {"levels": levels, "probe_error": [0.2 - e * x for x in levels]},
            "matched": [row],
        })  # fmt: skip
    return out


@pytest.mark.parametrize("case", [CLEAR, REVERSE, NOISE])
@pytest.mark.parametrize("claim_id", list(claims.THEORY))
def test_theory_claims(claim_id, case):
    rows = {r["id"]: r for r in claims.theory_claims(_direction_records(THEORY_EFFECTS[case]))}
    assert rows[claim_id]["verdict"] == EXPECTED[case], rows[claim_id]["ours"]
    assert rows[claim_id]["n_seeds"] == 3 and rows[claim_id]["rule"]


def test_unmatched_worlds_are_left_out():
    records = _direction_records(THEORY_EFFECTS[CLEAR])
    for r in records:
        r["matched"][0]["matched"] = False
    ids = {r["id"] for r in claims.theory_claims(records)}
    assert ids == {"noise_direction", "sharing_direction"}


# ---- probe records ----------------------------------------------------------------------------
ACCURACY_EFFECTS = {CLEAR: [10.0, 11.0, 9.0], REVERSE: [-10.0, -11.0, -9.0],
                    NOISE: [8.0, -8.0, 1.0]}  # fmt: skip
EQUIVALENCE_EFFECTS = {CLEAR: [0.1, -0.1, 0.0], REVERSE: [5.0, 5.5, 4.5], NOISE: [8.0, -8.0, 1.0]}


def _records(a: str, b: str, effects: list[float], n_test: int = 10**6) -> list[dict]:
    """Probe records where acc(a) - acc(b) = effect on every split (points); b sits at 40%."""
    out = []
    for seed, e in enumerate(effects):
        for variant, acc in ((a, 40.0 + e), (b, 40.0)):
            for split in SHIFTS:
                out.append({"task": "linear_probe", "variant": variant, "seed": seed,
                            "split": split, "value": acc / 100, "n_samples": n_test,
                            "index_seconds": 0.0, "train_seconds": 10.0})  # fmt: skip
    return out


RESAMPLING_PAIRS = {name: pair[:2] for name, pair in claims.COMPARISONS.items()}


@pytest.mark.parametrize("case", [CLEAR, REVERSE, NOISE])
@pytest.mark.parametrize("claim_id", list(RESAMPLING_PAIRS))
def test_resampling_claims(claim_id, case):
    rule = claims.RESAMPLING[claim_id].rule
    effects = (EQUIVALENCE_EFFECTS if claim_id.endswith("_small") else ACCURACY_EFFECTS)[case]
    rows = {r["id"]: r for r in claims.resampling_claims(_records(*RESAMPLING_PAIRS[claim_id],
                                                                  effects))}  # fmt: skip
    assert rows[claim_id]["verdict"] == EXPECTED[case], (rule, rows[claim_id]["ours"])


def test_test_sample_variance_widens_the_interval():
    """Three seeds 10 points apart on 100 test images each: too few to call it."""
    rows = claims.resampling_claims(_records("new_positive", "simclr", [3.0, 3.2, 2.8], 100))
    row = next(r for r in rows if r["id"] == "new_positive_gain")
    assert row["verdict"] == INCONCLUSIVE and row["interval"][0] < 0


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [([0.01, 0.02, 0.015], HELD), ([0.5, 0.6, 0.55], NOT_HELD), ([0.01, 0.3, 0.05], INCONCLUSIVE)],
)
def test_index_cost(ratios, verdict):
    records = _records("index_new_positive", "simclr", [1.0, 1.0, 1.0])
    for r in records:
        if r["variant"] == "index_new_positive":
            r["index_seconds"] = ratios[r["seed"]] * r["train_seconds"]
    assert claims.index_cost(records)["verdict"] == verdict


def test_missing_variants_give_no_rows():
    assert claims.resampling_claims(_records("new_positive", "simclr", [1.0, 2.0, 3.0]))
    ids = {r["id"] for r in claims.resampling_claims(_records("new_positive", "simclr", [1.0]))}
    assert ids == {"new_positive_gain", "new_positive_shift"}
    assert claims.resampling_claims([]) == []


# ---- pairs ------------------------------------------------------------------------------------
def _pairs(effects: list[float]) -> list[dict]:
    def kind(distance: float) -> dict:
        return {"pixel_distance": distance, "pixel_distance_se": 1e-4, "same_class": 1.0,
                "any_nuisance_differs": 0.5}  # fmt: skip

    return [{"seed": s, "text": kind(1.0 + e), "augmentation": kind(1.0)}
            for s, e in enumerate(effects)]  # fmt: skip


@pytest.mark.parametrize("case", [CLEAR, REVERSE, NOISE])
def test_pair_claims(case):
    effects = THEORY_EFFECTS[case]
    records = _records(probes.TEXT_RUN, probes.BASELINE, ACCURACY_EFFECTS[case])
    rows = {r["id"]: r for r in claims.pair_claims(_pairs(effects), records)}
    assert set(rows) == set(claims.PAIRS)
    assert {r["verdict"] for r in rows.values()} == {EXPECTED[case]}


# ---- learnability and tables ------------------------------------------------------------------
def test_learnability_reads_simclr_against_chance():
    near_chance = _records("new_positive", "simclr", [0.0, 0.0, 0.0], n_test=400)
    for r in near_chance:
        r["value"] = 0.11 + 0.01 * r["seed"]
    assert "not clearly above chance" in probes.learnability(near_chance, 10)
    learned = _records("new_positive", "simclr", [0.0, 0.0, 0.0])
    assert "it is above chance" in probes.learnability(learned, 10)


def test_probe_table_is_the_seed_mean():
    table = probes.probe_table(_records("new_positive", "simclr", [1.0, 2.0, 3.0]))
    assert table["new_positive"]["id"] == pytest.approx(42.0)
    assert probes.shift_mean(table["simclr"]) == pytest.approx(40.0)
