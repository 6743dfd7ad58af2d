"""zhang2023 claims: every claim's pure decision on fabricated per-seed numbers.

For each claim: a clear effect in the claimed direction gives held, the reversed effect gives not
held, and noise around zero gives inconclusive (for the equivalence claims: a difference near 0
gives held, a consistent large one not held, a wide interval inconclusive). Also: the test design
(per-seed test sets ignore the test term, a shared one keeps it), the paired per-sample error, no
verdict on a zero-width interval, and the margins read from configs/zhang2023/claims.yaml.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.zhang2023 import claims, probes
from mmcl.stats import HELD, INCONCLUSIVE, NOT_HELD, PER_SEED, SHARED
from mmcl.verdicts import decide_families

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


def _correct(acc: float, n_test: int, rng: np.random.Generator | None) -> np.ndarray:
    """n_test per-sample hits at accuracy `acc` (points): the first ones (nested, so two variants
    agree on most samples), or at random places with `rng` (independent errors)."""
    hits = int(round(acc / 100 * n_test))
    if rng is None:
        return np.arange(n_test) < hits
    out = np.zeros(n_test, dtype=bool)
    out[rng.choice(n_test, hits, replace=False)] = True
    return out


def _records(
    a: str, b: str, effects: list[float], n_test: int = 4000, independent: bool = False
) -> list[dict]:
    """Probe records where acc(a) - acc(b) = effect on every split (points); b sits at 40%."""
    rng = np.random.default_rng(0) if independent else None
    out = []
    for seed, e in enumerate(effects):
        for variant, acc in ((a, 40.0 + e), (b, 40.0)):
            for split in SHIFTS:
                correct = _correct(acc, n_test, rng)
                out.append({"task": "linear_probe", "variant": variant, "seed": seed,
                            "split": split, "value": float(correct.mean()), "n_samples": n_test,
                            "correct": pack_correct(correct),
                            "index_seconds": 0.0, "train_seconds": 10.0})  # fmt: skip
    return out


RESAMPLING_PAIRS = {name: pair[:2] for name, pair in claims.COMPARISONS.items()}


@pytest.mark.parametrize("case", [CLEAR, REVERSE, NOISE])
@pytest.mark.parametrize("claim_id", list(RESAMPLING_PAIRS))
def test_resampling_claims(claim_id, case):
    rule = claims.RESAMPLING[claim_id].rule
    effects = (EQUIVALENCE_EFFECTS if claim_id.endswith("_small") else ACCURACY_EFFECTS)[case]
    records = _records(*RESAMPLING_PAIRS[claim_id], effects)
    rows = {r["id"]: r for r in claims.resampling_claims(records, test=PER_SEED)}
    assert rows[claim_id]["verdict"] == EXPECTED[case], (rule, rows[claim_id]["ours"])
    assert rows[claim_id]["test"] == PER_SEED and rows[claim_id]["margin_reason"]


def _gain(records: list[dict], test: str) -> dict:
    rows = claims.resampling_claims(records, test=test)
    return next(r for r in rows if r["id"] == "new_positive_gain")


def test_per_seed_test_sets_leave_the_test_term_out_of_the_interval():
    """Three consistent seeds (+5 to +7 points) on 100 test images each: per-seed test sets
    already carry their test noise in the seed spread (decided); one shared 100-image set adds
    it (too few)."""
    records = _records("new_positive", "simclr", [6.0, 7.0, 5.0], 100, independent=True)
    per_seed, shared = _gain(records, PER_SEED), _gain(records, SHARED)
    assert per_seed["verdict"] == HELD and per_seed["se_test"] > 1.0
    assert shared["verdict"] == INCONCLUSIVE and shared["interval"][0] < 1.0
    assert per_seed["se"] < shared["se"]


def test_paired_error_is_smaller_than_unpaired_on_agreeing_models():
    """Two variants that agree on most test images: the paired error of their difference is far
    below two binomial errors in quadrature; with independent errors the two are alike."""
    nested = _records("new_positive", "simclr", [3.0, 3.2, 2.8], 2000)
    est, _, unpaired = probes.accuracy_difference(
        probes.probe_cells(nested), "new_positive", "simclr", test=SHARED
    )
    assert est.se_test < unpaired / 3
    independent = _records("new_positive", "simclr", [3.0, 3.2, 2.8], 2000, independent=True)
    est, _, unpaired = probes.accuracy_difference(
        probes.probe_cells(independent), "new_positive", "simclr", test=SHARED
    )
    assert est.se_test == pytest.approx(unpaired, rel=0.1)


def test_records_without_per_sample_correctness_are_refused():
    records = _records("new_positive", "simclr", [3.0, 3.2, 2.8])
    for r in records:
        del r["correct"]
    with pytest.raises(MMCLError, match="correct"):
        claims.resampling_claims(records, test=PER_SEED)


def test_no_claim_is_decided_on_a_zero_width_interval():
    """The same figure on every seed (an identity) gives p = 1 and stays inconclusive, also
    after the family step, which says why."""
    same = _records("new_positive", "simclr", [5.0, 5.0, 5.0])
    rows = decide_families(claims.resampling_claims(same, test=PER_SEED))
    gain = next(r for r in rows if r["id"] == "new_positive_gain")
    assert gain["exact"] and gain["p_value"] == 1.0
    assert gain["verdict"] == gain["raw_verdict"] == INCONCLUSIVE
    assert "exact figure" in gain["why"]
    records = _direction_records([0.1, 0.1, 0.1])
    for row in decide_families(claims.theory_claims(records)):
        assert row["verdict"] == INCONCLUSIVE and row["exact"], row["id"]


def test_every_row_says_what_would_make_it_fail():
    records = _records("new_positive", "simclr", [3.0, 3.2, 2.8])
    rows = claims.resampling_claims(records, test=PER_SEED)
    rows += claims.theory_claims(_direction_records(THEORY_EFFECTS[CLEAR]))
    rows += claims.pair_claims(_pairs(THEORY_EFFECTS[CLEAR]), [])
    for row in rows:
        assert row["fails_if"].startswith(row["ours"].split(":")[0]), row["fails_if"]
        assert row["margin_reason"], row["id"]


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [([0.01, 0.02, 0.015], HELD), ([0.5, 0.6, 0.55], NOT_HELD), ([0.01, 0.3, 0.05], INCONCLUSIVE)],
)
def test_index_cost(ratios, verdict):
    records = _records("index_new_positive", "simclr", [1.0, 1.1, 0.9])
    for r in records:
        if r["variant"] == "index_new_positive":
            r["index_seconds"] = ratios[r["seed"]] * r["train_seconds"]
    assert claims.index_cost(records)["verdict"] == verdict


def test_missing_variants_give_no_rows():
    records = _records("new_positive", "simclr", [1.0, 2.0, 3.0])
    assert claims.resampling_claims(records, test=PER_SEED)
    one = _records("new_positive", "simclr", [1.0])
    ids = {r["id"] for r in claims.resampling_claims(one, test=PER_SEED)}
    assert ids == {"new_positive_gain", "new_positive_shift"}
    assert claims.resampling_claims([], test=PER_SEED) == []


# ---- pairs ------------------------------------------------------------------------------------
def _pairs(effects: list[float]) -> list[dict]:
    """Per seed: augmentation pairs at distance 1, same-class pairs at 2, caption pairs at the
    diversity margin (half-way) plus the seed's effect (in units of the 1.0 gap)."""
    margin = claims.MARGINS["pairs_diversity"].value

    def kind(distance: float) -> dict:
        return {"pixel_distance": distance, "pixel_distance_se": 1e-4, "same_class": 1.0,
                "any_nuisance_differs": 0.5, "distinct_image": 0.5}  # fmt: skip

    return [{"seed": s, "text": kind(1.0 + margin + e), "augmentation": kind(1.0),
             "class": kind(2.0)} for s, e in enumerate(effects)]  # fmt: skip


@pytest.mark.parametrize("case", [CLEAR, REVERSE, NOISE])
def test_pair_claims(case):
    effects = THEORY_EFFECTS[case]
    records = _records(probes.TEXT_RUN, probes.BASELINE, ACCURACY_EFFECTS[case])
    rows = {r["id"]: r for r in claims.pair_claims(_pairs(effects), records)}
    assert set(rows) == set(claims.PAIRS)
    assert {r["verdict"] for r in rows.values()} == {EXPECTED[case]}


def test_diversity_share_is_against_the_same_class_partner():
    pair = _pairs([0.0])[0]
    assert claims.diversity_share(pair) == pytest.approx(claims.MARGINS["pairs_diversity"].value)
    pair["class"]["pixel_distance"] = 0.9  # same-class pairs no farther apart than copies
    assert math.isnan(claims.diversity_share(pair))
    assert claims.pair_claims([pair], []) == []  # no usable seed: no row


# ---- margins ----------------------------------------------------------------------------------
def test_margins_come_from_the_yaml_with_their_reasons():
    text = claims.MARGINS_FILE.read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["margins"]
    assert set(entries) == set(claims.CLAIM_IDS)
    every = {**claims.THEORY, **claims.PAIRS, **claims.RESAMPLING}
    assert set(every) == set(claims.CLAIM_IDS)
    for claim_id, claim in every.items():
        rule = claim.rule
        value = entries[claim_id]["value"]
        assert rule.margin == pytest.approx(-value if claim_id == "sharing_direction" else value)
        assert rule.reason == entries[claim_id]["reason"] and rule.reason


def _write_margins(tmp_path, change) -> object:
    data = yaml.safe_load(claims.MARGINS_FILE.read_text(encoding="utf-8"))
    change(data["margins"])
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("index_cost"), "margins: no claim 'index_cost'"),
        (
            lambda m: m.update(new_positive_gian=m["new_positive_gain"]),
            "did you mean 'new_positive_gain'",
        ),
        (lambda m: m["pairs_probe"].update(value="one"), "margins.pairs_probe.value"),
        (lambda m: m["pairs_probe"].pop("reason"), "margins.pairs_probe: missing key 'reason'"),
        (lambda m: m["pairs_probe"].update(reason=" "), "margins.pairs_probe: reason"),
        (lambda m: m["pairs_probe"].update(margin=1.0), "margins.pairs_probe: unknown key"),
    ],
)
def test_a_margin_error_names_the_file_and_the_key(tmp_path, change, message):
    path = _write_margins(tmp_path, change)
    with pytest.raises(MMCLError) as error:
        claims.read_margins(path)
    assert str(path) in str(error.value) and message in str(error.value)


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
