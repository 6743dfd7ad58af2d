"""mcl2024 claims: each decided from fabricated per-seed numbers by its fixed rule.

For every claim a setter puts the claim's per-seed figure at (its rule's threshold + d): a clear
effect (d well above 0 on every seed) must give "held", the reverse "not held", and noise (d of
both signs) "inconclusive". Probes are fabricated as per-sample correctness on the real scale's
1000 scored samples, spread evenly so each half of them has the probe's accuracy; MMVP-style
pairs are 30 per attribute.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.grids import grid_path
from mmcl.experiments.mcl2024 import claims
from mmcl.stats import FAILED, HELD, INCONCLUSIVE, MET, NOT_HELD, PER_SEED, accuracy_se
from mmcl.verdicts import decide_families

ATTRS = ("color", "shape", "texture", "size", "position")
MODELS = ("stage1", "stage2", "stage3", "stage3_latest_only", "concat", "concat_2",
          "control_concat", "wide", "clip", "mcl_clip")  # fmt: skip
CLUSTERINGS = ("stage1_clusters", "stage2_clusters", "stage3_clusters",
               "stage3_latest_only_clusters")  # fmt: skip
N_TEST = 1000
N_PAIRS = 30
M = {name: m.value for name, m in claims.MARGINS.items()}

CLEAR = [0.15, 0.17, 0.13, 0.16, 0.14]
NOISE = [0.15, -0.15, 0.1, -0.1, 0.0]


def _spread(p: float, n: int = N_TEST) -> np.ndarray:
    """round(p * n) right answers spread evenly, so every half holds accuracy p (to 1/n)."""
    i = np.arange(n)
    return np.floor((i + 1) * p + 1e-9) - np.floor(i * p + 1e-9) == 1


def _set(r: dict, model: str, attribute: str, p: float) -> None:
    """`model`'s probe on `attribute` right on a fraction p of the scored samples."""
    r["probes"][model][attribute] = p
    r["correct"][model][attribute] = pack_correct(_spread(p))


def _pairs(n_right: int) -> list[bool]:
    return [True] * n_right + [False] * (N_PAIRS - n_right)


def neutral_seed(seed: int) -> dict:
    """Every probe 0.5, every NMI 0.1, every model right on 15 of 30 pairs per attribute."""
    r = {
        "seed": seed,
        "n_probe_test": N_TEST,
        "probes": {m: {} for m in MODELS},
        "correct": {m: {} for m in MODELS},
        "nmi": {c: dict.fromkeys(ATTRS, 0.1) for c in CLUSTERINGS},
        "mmvp": {m: {a: _pairs(15) for a in ATTRS[:3]} for m in ("clip", "mcl_clip", "clip_twice")},
    }
    for m in MODELS:
        for a in ATTRS:
            _set(r, m, a, 0.5)
    return r


def _set_mmvp(r: dict, attribute: str, d: float) -> None:
    """MCL-CLIP right on round(d * 30) more pairs of `attribute` than CLIP (15 of 30)."""
    r["mmvp"]["mcl_clip"][attribute] = _pairs(15 + round(d * N_PAIRS))


def _s1(r, d):
    _set(r, "stage1", "color", 0.3 + M["suppression_gap"] + d)
    _set(r, "stage1", "shape", 0.3)  # the weaker of the two
    _set(r, "stage1", "texture", 0.4)


def _s2(r, d):
    r["nmi"]["stage1_clusters"].update(color=0.1 + M["nmi_gap"] + d, shape=0.1, texture=0.05)


def _s3(r, d):
    for a in claims.SUPPRESSED:
        _set(r, "stage1", a, 0.3)
        _set(r, "stage2", a, 0.3 + M["min_gain"] + d)


def _s4(attribute):
    def setter(r, d):
        _set(r, "stage2", attribute, 0.7)  # the best stage on the attribute (not the first)
        _set(r, "concat", attribute, 0.7 - M["concat_non_inferiority"] + d)

    return setter


def _s5c(r, d):
    for a in claims.SUPPRESSED:
        _set(r, "concat_2", a, 0.5 + M["min_gain"] + d)


def _s5w(r, d):
    for a in claims.SUPPRESSED:
        _set(r, "wide", a, 0.5 - M["min_gain"] - d)


def _s6(r, d):
    _set(r, "stage3_latest_only", "color", 0.5 + M["min_gain"] + d)


def _m1(r, d):
    r["probes"]["clip"].update(color=0.9, shape=0.2, texture=0.4)  # shape: probed worst
    _set_mmvp(r, "shape", M["mmvp_min_gain"] + 2 * d)


def _m2(r, d):
    r["probes"]["clip"].update(color=0.9, shape=0.2, texture=0.4)  # colour: probed best
    _set_mmvp(r, "color", -M["mmvp_non_inferiority"] + 2 * d)


SETTERS = {
    "S1-suppression": _s1, "S2-clusters": _s2, "S3-stage2": _s3,
    **{f"S4-concat-{a}": _s4(a) for a in claims.TRIFEATURE},
    "S5-control": _s5c, "S5-width": _s5w, "S6-latest-only": _s6,
    "M1-mmvp-suppressed": _m1, "M2-mmvp-dominant": _m2,
}  # fmt: skip
# The arms and attributes each claim's precondition reads (M1 names shape, M2 colour: `_m1`).
PRECONDITION_READS = {
    "S1-suppression": [("concat", "shape")], "S2-clusters": [("stage1", "color")],
    "S3-stage2": [("concat", "shape")],
    **{f"S4-concat-{a}": [("concat", a)] for a in claims.TRIFEATURE},
    "S5-control": [("concat", "texture")], "S5-width": [("concat", "shape")],
    "S6-latest-only": [("concat", "color")],
    "M1-mmvp-suppressed": [("clip", "shape"), ("mcl_clip", "shape")],
    "M2-mmvp-dominant": [("clip", "color"), ("mcl_clip", "color")],
}  # fmt: skip


def _raw(claim_id: str, ds: list[float]) -> list[dict]:
    raw = []
    for seed, d in enumerate(ds):
        r = neutral_seed(seed)
        SETTERS[claim_id](r, d)
        raw.append(r)
    return raw


def _row(claim_id: str, ds: list[float], raw: list[dict] | None = None) -> dict:
    rows = claims.claim_rows(raw or _raw(claim_id, ds))
    return next(row for row in rows if row["id"] == claim_id)


def test_every_claim_has_a_setter_and_a_full_row():
    rows = claims.claim_rows([neutral_seed(s) for s in range(3)])
    assert [r["id"] for r in rows] == list(SETTERS)
    for r in rows:
        assert r["verdict"] in (HELD, NOT_HELD, INCONCLUSIVE)
        assert r["n_seeds"] == 3 and len(r["interval"]) == 2 and r["rule"] and r["paper"]
        assert r["test"] == PER_SEED and r["margin_reason"] and r["fails_if"]
        assert r["precondition"]["status"] == MET and r["precondition"]["evidence"]


@pytest.mark.parametrize("claim_id", list(SETTERS))
def test_clear_effect_holds_reverse_does_not_noise_is_inconclusive(claim_id):
    assert _row(claim_id, CLEAR)["verdict"] == HELD
    assert _row(claim_id, [-d for d in CLEAR])["verdict"] == NOT_HELD
    assert _row(claim_id, NOISE)["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize("claim_id", list(SETTERS))
def test_one_seed_is_inconclusive(claim_id):
    assert _row(claim_id, CLEAR[:1])["verdict"] == INCONCLUSIVE


# ---- exact figures never decide -----------------------------------------------------------------
def test_no_claim_is_decided_on_a_zero_width_interval():
    """Identical seeds give every figure a point interval: every claim stays undecided, and the
    family step says why, even where the point lies far past the margin (S1 here)."""
    raw = []
    for seed in range(5):
        r = neutral_seed(seed)
        _s1(r, 0.3)
        raw.append(r)
    rows = claims.claim_rows(raw)
    assert all(r["exact"] and r["verdict"] == INCONCLUSIVE and r["p_value"] == 1.0 for r in rows)
    s1 = next(r for r in decide_families(rows) if r["id"] == "S1-suppression")
    assert s1["estimate"] > M["suppression_gap"] + 0.25 and "exact figure" in s1["why"]


# ---- paired errors ----------------------------------------------------------------------------
def test_two_probes_on_the_same_samples_get_the_paired_error():
    """Stage 2 right wherever stage 1 is and on 30 more samples: the difference's error is the
    paired one, far below two binomial errors in quadrature, and it is what the row records."""
    r = neutral_seed(0)
    first = _spread(0.4)
    better = first.copy()
    better[np.flatnonzero(~first)[:30]] = True
    for a in claims.SUPPRESSED:
        r["correct"]["stage1"][a], r["correct"]["stage2"][a] = map(pack_correct, (first, better))
    figure = claims.stage2_figure(r)
    unpaired = np.hypot(accuracy_se(first.mean(), N_TEST), accuracy_se(better.mean(), N_TEST))
    assert figure.value == pytest.approx(0.03)
    assert 0 < figure.se < unpaired / 3
    row = _row("S3-stage2", [], raw=[r, copy.deepcopy(r)])
    assert row["se_test"] == pytest.approx(figure.se)


# ---- named on one half, measured on the other --------------------------------------------------
def _noisy_seed(rng: np.random.Generator, p: float = 0.6) -> dict:
    """Every model's probe right on each sample with probability p, independently: no true
    difference between any two arms."""
    r = neutral_seed(0)
    for m in MODELS:
        for a in ATTRS:
            r["correct"][m][a] = pack_correct(rng.random(N_TEST) < p)
    return r


def test_the_concat_figure_averages_zero_under_no_true_difference():
    """The old S4 (concatenation - the max over stages on the same samples) averages below 0
    with no true difference; naming the stage on one half and measuring on the other does not."""
    rng = np.random.default_rng(0)
    seeds = [_noisy_seed(rng) for _ in range(300)]
    named = np.array([claims.concat_figure(r, "shape").value for r in seeds])
    same_samples = np.array([
        claims.correct(r, "concat", "shape").mean()
        - max(claims.correct(r, k, "shape").mean() for k in ("stage1", "stage2", "stage3"))
        for r in seeds
    ])  # fmt: skip
    assert abs(named.mean()) < 3 * named.std(ddof=1) / np.sqrt(named.size)
    assert same_samples.mean() < -0.01


def test_s1_names_the_weaker_attribute_on_the_first_half_and_measures_on_the_second():
    r = neutral_seed(0)
    half = N_TEST // 2
    shape = np.concatenate([_spread(0.2, half), _spread(0.6, half)])  # weak only in the first half
    r["correct"]["stage1"]["shape"] = pack_correct(shape)
    _set(r, "stage1", "texture", 0.4)
    _set(r, "stage1", "color", 0.9)
    figure = claims.suppression_figure(r)
    assert figure.named == "shape" and figure.value == pytest.approx(0.9 - 0.6, abs=0.005)


def test_s4_names_the_best_stage_per_seed_and_says_which():
    raw = _raw("S4-concat-shape", CLEAR[:3])
    row = _row("S4-concat-shape", [], raw=raw)
    assert "best stage named on the first half, per seed: stage2, stage2, stage2" in row["ours"]


# ---- preconditions ----------------------------------------------------------------------------
def _unlearned(r: dict, model: str, attribute: str) -> None:
    """`model`'s probe right on chance + 0.01 of the scored samples on `attribute` (per-sample
    correctness only, so the probe figures that name M1/M2's attribute stay as set)."""
    r["correct"][model][attribute] = pack_correct(_spread(claims.chance(attribute) + 0.01))


@pytest.mark.parametrize(("claim_id", "arm"), [
    (claim_id, arm) for claim_id, arms in PRECONDITION_READS.items() for arm in arms
])  # fmt: skip
def test_a_claim_whose_arm_did_not_learn_its_attribute_is_not_answerable(claim_id, arm):
    """A clear effect with one of the precondition's arms at chance on the claim's attribute:
    the precondition fails and names that arm, the claim is inconclusive "not answerable here"
    though its comparison looked clear; without the change the same run is met and held."""
    raw = _raw(claim_id, CLEAR)
    assert _row(claim_id, [], raw=raw)["precondition"]["status"] == MET
    for r in raw:
        _unlearned(r, *arm)
    row = _row(claim_id, [], raw=raw)
    assert row["precondition"]["status"] == FAILED and row["raw_verdict"] == INCONCLUSIVE
    assert claims.ARMS[arm[0]] in row["precondition"]["rule"]
    assert f"{arm[0]} {arm[1]} probe - chance" in row["precondition"]["evidence"]
    decided = next(r for r in decide_families([row]) if r["id"] == claim_id)
    assert decided["why"].startswith("not answerable here")


@pytest.mark.parametrize("claim_id", list(SETTERS))
def test_the_precondition_does_not_read_the_compared_arms_difference(claim_id):
    """The same arms' probes, the comparison turned around: the precondition's status is the
    same whichever way the claim comes out."""
    held, reversed_ = _row(claim_id, CLEAR), _row(claim_id, [-d for d in CLEAR])
    assert held["verdict"] == HELD and reversed_["verdict"] == NOT_HELD
    assert held["precondition"]["status"] == reversed_["precondition"]["status"] == MET


def test_an_attribute_no_claim_is_about_leaves_the_precondition_met():
    """Texture at chance for plain CLIP: M1 (shape) and M2 (colour) stay answerable, and the
    colour claims (S2, S6) read colour only."""
    raw = _raw("M1-mmvp-suppressed", CLEAR)
    for r in raw:
        _unlearned(r, "clip", "texture")
        _unlearned(r, "concat", "shape")
    rows = {r["id"]: r for r in claims.claim_rows(raw)}
    for claim_id in ("M1-mmvp-suppressed", "M2-mmvp-dominant", "S2-clusters", "S6-latest-only"):
        assert rows[claim_id]["precondition"]["status"] == MET
    assert rows["S3-stage2"]["precondition"]["status"] == FAILED


def test_the_mmvp_precondition_reads_each_seeds_named_attribute():
    """Seeds that name different attributes: the precondition reads each seed's own, so MCL-CLIP
    at chance on shape only where a seed named texture leaves it met."""
    raw = _raw("M1-mmvp-suppressed", CLEAR[:3])
    raw[1]["probes"]["clip"].update(shape=0.5, texture=0.2)  # seed 1 names texture
    raw[1]["mmvp"]["mcl_clip"]["texture"] = raw[1]["mmvp"]["mcl_clip"]["shape"]
    _unlearned(raw[1], "mcl_clip", "shape")
    row = _row("M1-mmvp-suppressed", [], raw=raw)
    assert "per seed: shape, texture, shape" in row["precondition"]["evidence"]
    assert row["precondition"]["status"] == MET
    _unlearned(raw[1], "mcl_clip", "texture")
    assert _row("M1-mmvp-suppressed", [], raw=raw)["precondition"]["status"] == FAILED


# ---- margins from the YAML --------------------------------------------------------------------
def test_margins_and_their_reasons_come_from_the_yaml():
    data = yaml.safe_load(grid_path("mcl2024", "claims.yaml").read_text())["margins"]
    assert set(data) == set(claims.MARGIN_NAMES)
    rows = {r["id"]: r for r in claims.claim_rows([neutral_seed(s) for s in range(3)])}
    expect = {"S1-suppression": ("suppression_gap", 1), "S2-clusters": ("nmi_gap", 1),
              "S3-stage2": ("min_gain", 1), "S4-concat-shape": ("concat_non_inferiority", -1),
              "S6-latest-only": ("min_gain", 1), "M1-mmvp-suppressed": ("mmvp_min_gain", 1),
              "M2-mmvp-dominant": ("mmvp_non_inferiority", -1)}  # fmt: skip
    for claim_id, (name, sign) in expect.items():
        assert rows[claim_id]["margin"] == pytest.approx(sign * data[name]["value"])
        assert rows[claim_id]["margin_reason"] == data[name]["reason"]


def _margins_file(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(grid_path("mcl2024", "claims.yaml").read_text())
    edit(data)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_copy_of_the_margins_file_reads_as_the_original(tmp_path):
    assert claims.read_margins(_margins_file(tmp_path, lambda d: None)) == claims.MARGINS
    edited = _margins_file(tmp_path, lambda d: d["margins"]["min_gain"].update(value=0.05))
    assert claims.read_margins(edited)["min_gain"].value == 0.05


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["margins"].update(min_gian=d["margins"].pop("min_gain")),
         r"margins: unknown margin 'min_gian'; did you mean 'min_gain'\?"),
        (lambda d: d["margins"].pop("nmi_gap"), r"margins: no margin 'nmi_gap'"),
        (lambda d: d["margins"]["nmi_gap"].pop("reason"),
         r"margins\.nmi_gap: missing key 'reason'"),
        (lambda d: d["margins"]["nmi_gap"].update(reason=" "),
         r"margins\.nmi_gap: reason must say"),
        (lambda d: d["margins"]["learnable"].update(value="big"),
         r"margins\.learnable\.value: expected float, got 'big'"),
        (lambda d: d["margins"]["learnable"].update(value=-0.1), r"learnable\.value must be >= 0"),
        (lambda d: d["margins"].update(min_gain=0.02), r"margins\.min_gain: expected a mapping"),
    ],
)  # fmt: skip
def test_a_mistake_in_the_margins_file_names_the_file_and_the_key(tmp_path, edit, message):
    path = _margins_file(tmp_path, edit)
    with pytest.raises(MMCLError, match=message) as error:
        claims.read_margins(path)
    assert str(path) in str(error.value)


# ---- MMVP and the identity check --------------------------------------------------------------
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
