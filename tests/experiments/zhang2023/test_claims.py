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
import torch
import yaml

from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.zhang2023 import claims, preconditions, probes, scales
from mmcl.methods.teachers import LabelOracleTeacher
from mmcl.stats import (
    FAILED,
    HELD,
    INCONCLUSIVE,
    MET,
    NOT_CHECKED,
    NOT_HELD,
    PER_SEED,
    SHARED,
    t_quantile,
)
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
    a: str,
    b: str,
    effects: list[float],
    n_test: int = 4000,
    independent: bool = False,
    base: float = 40.0,
) -> list[dict]:
    """Probe records where acc(a) - acc(b) = effect on every split (points); b sits at `base`."""
    rng = np.random.default_rng(0) if independent else None
    out = []
    for seed, e in enumerate(effects):
        for variant, acc in ((a, base + e), (b, base)):
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


# ---- preconditions ----------------------------------------------------------------------------
GOOD_TEACHER = [{"same_class": r, "chance": 0.1, "n_anchors": 4096} for r in (0.55, 0.6, 0.5)]
RANDOM_TEACHER = [{"same_class": r, "chance": 0.1, "n_anchors": 4096} for r in (0.11, 0.09, 0.1)]


def _prepared(agreements: list[dict]) -> list[dict]:
    return [{"seed": s, "n_classes": 10, "teacher": a} for s, a in enumerate(agreements)]


def _gain_row(records: list[dict], prepared: list[dict]) -> dict:
    rows = decide_families(claims.resampling_claims(records, test=PER_SEED, prepared=prepared))
    return next(r for r in rows if r["id"] == "new_positive_gain")


@pytest.mark.parametrize(
    ("teacher", "simclr_level", "status"),
    [(GOOD_TEACHER, 40.0, MET), (RANDOM_TEACHER, 40.0, FAILED), (GOOD_TEACHER, 12.0, FAILED)],
)
def test_resampling_precondition_needs_the_teacher_and_simclr(teacher, simclr_level, status):
    """A clear gain counts only where the teacher's neighbours share the class (3x chance) and
    plain SimCLR reads it (2x chance); else "not answerable here", whatever the difference."""
    records = _records("new_positive", "simclr", ACCURACY_EFFECTS[CLEAR], base=simclr_level)
    row = _gain_row(records, _prepared(teacher))
    assert row["precondition"]["status"] == status
    assert row["raw_verdict"] == (HELD if status == MET else INCONCLUSIVE)
    if status == FAILED:
        assert row["why"].startswith("not answerable here")


def test_precondition_never_reads_the_compared_difference():
    """The same SimCLR and teacher with the variant far ahead or far behind: same precondition."""
    prepared = _prepared(GOOD_TEACHER)
    ahead, behind = (_gain_row(_records("new_positive", "simclr", ACCURACY_EFFECTS[c]), prepared)
                     for c in (CLEAR, REVERSE))  # fmt: skip
    assert ahead["precondition"] == behind["precondition"]
    assert ahead["verdict"] == HELD and behind["verdict"] == NOT_HELD


def test_teacher_bar_is_a_multiple_of_the_measured_chance():
    """Neighbours at 25% clear 3x a chance of 5% (20 classes) but not 3x a chance of 10%."""
    rates = [{"same_class": r, "n_anchors": 4096} for r in (0.25, 0.26, 0.24)]
    low_chance = preconditions.teacher_shares_class([{**r, "chance": 0.05} for r in rates])
    high_chance = preconditions.teacher_shares_class([{**r, "chance": 0.1} for r in rates])
    assert (low_chance["status"], high_chance["status"]) == (MET, FAILED)
    assert "3x" in high_chance["rule"] and "30%" in high_chance["evidence"]


def test_simclr_bar_reads_the_claims_own_splits():
    """The shift claim asks SimCLR's mean over the shifts, the id claims its id probe: SimCLR
    reading the class in distribution only fails the shift claim's precondition alone."""
    records = _records("new_positive", "simclr", ACCURACY_EFFECTS[CLEAR])
    for r in records:
        if r["variant"] == "simclr" and r["split"] != "id":
            r["value"] = 0.1
    prepared = _prepared(GOOD_TEACHER)
    rows = {r["id"]: r for r in claims.resampling_claims(records, test=PER_SEED, prepared=prepared)}
    assert rows["new_positive_gain"]["precondition"]["status"] == MET
    assert rows["new_positive_shift"]["precondition"]["status"] == FAILED


def test_text_positives_ask_simclr_only_and_unmeasured_is_not_checked():
    records = _records(probes.TEXT_RUN, "simclr", ACCURACY_EFFECTS[CLEAR])
    (row,) = claims.pair_claims([], records, _prepared(RANDOM_TEACHER))
    assert row["precondition"]["status"] == MET and "teacher" not in row["precondition"]["rule"]
    (row,) = claims.pair_claims([], records)  # no prepared seeds: the paper recipe's own data
    assert row["precondition"]["status"] == NOT_CHECKED


def test_neighbour_agreement_of_a_label_teacher_is_one_and_chance_is_exact():
    """Label-oracle features on whole-split batches (8 images of each of 4 classes): every
    nearest view shares the class; a random candidate does (16 - 2) / (64 - 2) of the time."""
    teacher = LabelOracleTeacher(4)
    split = _split_of(n_per_class=8, n_classes=4)
    out = preconditions.neighbour_agreement(teacher, split, "default", batch_size=32, seed=0)
    assert out["same_class"] == 1.0 and out["chance"] == pytest.approx(14 / 62)
    assert out["n_anchors"] == 2 * 32 * preconditions.AGREEMENT_BATCHES
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3]).repeat(2)  # a batch of 8 images, 2 views
    nearest = torch.arange(16).roll(1)  # an arbitrary pick: only its labels count
    same, chance = preconditions.batch_agreement(labels, nearest)
    assert chance == pytest.approx((6 * (6 - 2) + 4 * (4 - 2) + 2 * 0 + 4 * (4 - 2)) / 16 / 14)
    assert same == pytest.approx(float((labels[nearest] == labels).float().mean()))


def _split_of(n_per_class: int, n_classes: int) -> WorldSplit:
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    images = torch.randint(0, 255, (len(labels), 3, 8, 8), dtype=torch.uint8)
    return WorldSplit("train", images, labels, {"shape": labels}, {"shape": ["a"] * n_classes},
                      [""] * len(labels), ["a"] * n_classes, [])  # fmt: skip


# ---- paired errors and the test floor --------------------------------------------------------
def test_discordance_is_the_share_of_samples_exactly_one_model_gets():
    """Nested hits at 50% and 40%: they disagree on exactly 10% of the samples."""
    cells = probes.probe_cells(_records("new_positive", "simclr", [10.0, 10.0, 10.0]))
    assert probes.discordance(cells, "new_positive", "simclr") == pytest.approx(0.10, abs=1e-3)


def test_test_floor_is_where_test_noise_alone_fills_the_margin():
    """At the floor, t_{n-1} * sqrt(d / n_test / n) equals the margin; more seeds lower it."""
    floor = probes.test_floor(0.5, 1.5, 3)
    half = t_quantile(2) * math.sqrt(0.5 / floor / 3) * 100
    assert half == pytest.approx(1.5, rel=1e-3) and half <= 1.5
    assert probes.test_floor(0.5, 1.5, 5) < floor and probes.test_floor(0.5, 3.0, 3) < floor


def test_tiny_test_sets_clear_the_equivalence_floor():
    """configs/zhang2023/resampling.yaml's tiny n_test is at least the floor of every
    equivalence claim at tiny's seeds for any discordance up to 0.6 (two probes near 30%)."""
    tiny = scales.resolve("tiny")
    for name in claims.NEGATIVE_SIDE:
        margin = claims.RESAMPLING[f"{name}_small"].rule.margin
        assert tiny.grid.n_test >= probes.test_floor(0.6, margin, len(tiny.seeds))


def test_equivalence_rows_state_their_floor():
    records = _records("drop_easy_negative", "simclr", EQUIVALENCE_EFFECTS[CLEAR], n_test=500)
    row = next(r for r in claims.resampling_claims(records, test=PER_SEED)
               if r["id"] == "drop_easy_negative_small")  # fmt: skip
    assert "test floor" in row["ours"] and "here 500" in row["ours"]


# ---- tables --------------------------------------------------------------------------------
def test_probe_table_is_the_seed_mean():
    table = probes.probe_table(_records("new_positive", "simclr", [1.0, 2.0, 3.0]))
    assert table["new_positive"]["id"] == pytest.approx(42.0)
    assert probes.shift_mean(table["simclr"]) == pytest.approx(40.0)
