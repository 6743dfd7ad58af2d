"""fang2022 claims on fabricated per-seed numbers and per-sample correctness: each rule's three
verdicts, margins read from claims.yaml (and its errors), the paired test-sample error, the
interval's parts (seed spread, shared test samples, line), F0 on the Fisher z scale, and the
family step over the whole paper."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from scipy import special
from scipy import stats as scipy_stats

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.fang2022 import claims
from mmcl.experiments.fang2022.causes import ROLES
from mmcl.experiments.fang2022.claims import COMPARISONS, MARGINS
from mmcl.verdicts import decide_families

LINE = {"transform": "logit", "slope": 0.9, "intercept": -0.5, "r": 0.99, "n": 10,
        "eps": 1e-3, "coeffs": []}  # fmt: skip
N_TEST = 4000
SHIFTS = ("sketch", "unseen_colors")
GREATER = [c for c in COMPARISONS if c.kind == "greater"]
EQUIVALENT = [c for c in COMPARISONS if c.kind == "equivalent"]
YAML = yaml.safe_load(claims.MARGINS_FILE.read_text())["margins"]
PRE_YAML = yaml.safe_load(claims.MARGINS_FILE.read_text())["preconditions"]


def beta(x: float) -> float:
    return float(special.expit(0.9 * special.logit(x) - 0.5))


def nested(p: float, n: int = N_TEST) -> np.ndarray:
    """n samples of which the first round(p n) are right: two such models agree wherever they
    can (the easy images are easy for both), as models of one family mostly do."""
    return np.arange(n) < round(p * n)


def rec(bits: np.ndarray) -> dict:
    return {"n_samples": bits.size, "correct": pack_correct(bits)}


def point(er_pp: list[float], x: float = 0.5, n: int = N_TEST, rng=None) -> dict:
    """A role whose seeds sit ~`er_pp` above the line at ID accuracy ~x, on both shifts; its
    accuracies are its correctness's means (nested, or independent draws with `rng`)."""
    draw = (lambda p: rng.random(n) < p) if rng is not None else (lambda p: nested(p, n))
    out = {"id": [], "ood": [], "correct": []}
    for e in er_pp:
        id_bits = draw(x)
        ood_bits = {s: draw(beta(float(id_bits.mean())) + e / 100) for s in SHIFTS}
        out["id"].append(float(id_bits.mean()))
        out["ood"].append({s: float(b.mean()) for s, b in ood_bits.items()})
        out["correct"].append({"id": rec(id_bits), "ood": {s: rec(b) for s, b in ood_bits.items()}})
    return out


def bed_at(ids: list[float], floor: float = 0.3) -> dict:
    """Testbed models at these ID accuracies, fitted where at or above `floor`."""
    return {"labels": [f"tb{i}" for i in range(len(ids))], "id": list(ids),
            "fitted": [x >= floor for x in ids]}  # fmt: skip


SPREAD = bed_at(list(np.linspace(0.12, 0.95, 30)))  # covers every fabricated point densely


def raw(er: dict[str, list[float]], line: dict = LINE, n: int = N_TEST) -> dict:
    """Every role at ER 0 on three seeds, except those given; a testbed that covers them."""
    return {"n_test": n, "chance": 0.1, "line": line, "testbed": SPREAD,
            "points": {r: point(er.get(r, [0.0, 0.0, 0.0]), n=n) for r in ROLES}}  # fmt: skip


def jittered(er: dict[str, list[float]], sd: float = 0.1) -> dict[str, list[float]]:
    """Every role (ER 0 unless given) plus its own small seed noise, so no ΔER is exact."""
    rng = np.random.default_rng(7)
    return {r: list(np.add(er.get(r, [0.0] * 3), sd * rng.standard_normal(3))) for r in ROLES}


# ---- margins from claims.yaml ----------------------------------------------------------------


def test_margins_and_reasons_are_the_yaml_files():
    assert set(MARGINS) == set(claims.MARGIN_KEYS) == set(YAML)
    for key, margin in MARGINS.items():
        assert margin.value == YAML[key]["value"] and margin.reason == YAML[key]["reason"]
    rows = {r["id"]: r for r in claims.decide_claims(raw({}))}
    for c in COMPARISONS:
        assert rows[c.claim_id]["margin"] == YAML[c.margin]["value"]
        assert rows[c.claim_id]["margin_reason"] == YAML[c.margin]["reason"]
    assert rows["F0-line"]["margin"] == pytest.approx(math.atanh(YAML["line_r"]["value"]))
    assert rows["F0-line"]["margin_reason"] == YAML["line_r"]["reason"]


def test_margins_do_not_depend_on_the_run():
    """The old margin was a third of F2's estimate: now a larger F2 changes no other row."""
    small = {r["id"]: r for r in claims.decide_claims(raw({"clip-diverse/zeroshot": [5.0] * 3}))}
    large = {r["id"]: r for r in claims.decide_claims(raw({"clip-diverse/zeroshot": [30.0] * 3}))}
    for c in EQUIVALENT:
        assert small[c.claim_id]["margin"] == large[c.claim_id]["margin"]
        assert small[c.claim_id]["rule"] == large[c.claim_id]["rule"]
    assert not hasattr(claims, "NoMargin") and not hasattr(claims, "MARGIN_SHARE")


def _write(tmp_path, margins: dict, preconditions: dict | None = None) -> object:
    path = tmp_path / "claims.yaml"
    pre = PRE_YAML if preconditions is None else preconditions
    path.write_text(yaml.safe_dump({"margins": margins, "preconditions": pre}))
    return path


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda m: m.pop("equivalence"), r"margins: no margin 'equivalence'"),
        (lambda m: m.update(equivalance=m.pop("equivalence")), r"did you mean 'equivalence'"),
        (lambda m: m["equivalence"].update(value="three"), r"margins\.equivalence\.value"),
        (lambda m: m["distribution"].update(reason=" "), r"margins\.distribution: reason"),
        (lambda m: m["line_r"].pop("reason"), r"margins\.line_r: missing key 'reason'"),
        (lambda m: m["line_r"].update(value=1.5), r"margins\.line_r\.value must lie in"),
        (lambda m: m["equivalence"].update(value=0), r"margins\.equivalence\.value must be > 0"),
    ],
)
def test_a_yaml_mistake_names_the_file_and_the_key(tmp_path, change, match):
    margins = {k: dict(v) for k, v in YAML.items()}
    change(margins)
    path = _write(tmp_path, margins)
    with pytest.raises(MMCLError, match=match) as error:
        claims.read_margins(path)
    assert str(path) in str(error.value)


def test_read_margins_reads_another_file(tmp_path):
    margins = {k: dict(v) for k, v in YAML.items()}
    margins["equivalence"]["value"] = 1.5
    read = claims.read_margins(_write(tmp_path, margins))
    row = claims.decide_comparison(raw({}), EQUIVALENT[0], read)
    assert row["margin"] == 1.5 and "+/-1.5" in row["rule"]


# ---- the rules' verdicts ---------------------------------------------------------------------

CASES = {
    "clear": [10.1, 9.9, 10.0],
    "reverse": [-10.1, -9.9, -10.0],
    "noise": [9.0, -5.0, 2.0],
}


@pytest.mark.parametrize("case,verdict", [("clear", "held"), ("reverse", "not held"),
                                          ("noise", "inconclusive")])  # fmt: skip
@pytest.mark.parametrize("comparison", GREATER, ids=lambda c: c.claim_id)
def test_greater_claims(comparison, case, verdict):
    row = claims.decide_comparison(raw({comparison.treatment: CASES[case]}), comparison)
    assert row["verdict"] == verdict, row
    assert row["n_seeds"] == 3 and row["test"] == stats.SHARED
    assert row["rule"] == stats.Greater(MARGINS[comparison.margin].value).text()
    assert row["estimate"] == pytest.approx(np.mean(CASES[case]), abs=0.1)


def test_distribution_must_clear_its_margin_not_zero():
    """+1.5 pp is confidently above 0 but inside what the equivalences call negligible."""
    f2 = next(c for c in GREATER if c.claim_id == claims.DISTRIBUTION)
    row = claims.decide_comparison(raw({f2.treatment: [1.4, 1.6, 1.5]}), f2)
    assert MARGINS["distribution"].value > 1.6 and row["verdict"] == "not held", row


EQ_CASES = {
    "clear": ([0.1, -0.1, 0.0], "held"),  # ΔER ~0, well inside ±3
    "reverse": ([12.1, 11.9, 12.0], "not held"),  # wholly outside ±3
    "wide": ([5.0, -5.0, 0.0], "inconclusive"),  # mean 0 but the interval reaches past ±3
}


@pytest.mark.parametrize("case", list(EQ_CASES))
@pytest.mark.parametrize("comparison", EQUIVALENT, ids=lambda c: c.claim_id)
def test_equivalence_claims(comparison, case):
    delta, verdict = EQ_CASES[case]
    row = claims.decide_comparison(raw({comparison.treatment: delta}), comparison)
    assert row["verdict"] == verdict, row
    assert f"+/-{MARGINS['equivalence'].value:g}" in row["rule"]
    assert "+/-3" in row["fails_if"] and comparison.treatment in row["fails_if"]


def test_equivalences_no_longer_wait_on_f2():
    held = [c for c in EQUIVALENT if "clip-diverse/zeroshot" not in (c.treatment, c.control)]
    reverse = raw(jittered({"clip-diverse/zeroshot": [-10.0, -10.1, -9.9]}))
    rows = {r["id"]: r for r in claims.decide_claims(reverse)}
    assert rows["F2-distribution"]["verdict"] == "not held"
    held = [c.claim_id for c in held]
    assert held and all(rows[k]["verdict"] == "held" for k in held), rows


def test_no_claim_is_decided_on_a_zero_width_interval():
    """Identical models on every seed: ΔER exactly 0, paired error 0, no line spread."""
    rows = claims.decide_claims(raw({}))
    for row in rows[1:]:
        assert row["exact"] and row["interval"] == [0.0, 0.0], row
        assert row["verdict"] == "inconclusive" and row["p_value"] == 1.0
    family = {r["id"]: r for r in decide_families(rows)}
    assert "exact figure" in family["F1-size"]["why"]


def test_paper_pattern_end_to_end():
    diverse = [15.1, 14.9, 15.0]
    er = {r: diverse for r in ROLES if "diverse" in r}
    er["clip-diverse/probe-id"] = [5.0, 5.2, 4.8]
    rows = claims.decide_claims(raw(jittered(er)))
    assert [r["id"] for r in rows] == ["F0-line", *(c.claim_id for c in COMPARISONS)]
    assert all(r["verdict"] == "held" for r in rows[1:]), [(r["id"], r["verdict"]) for r in rows]
    assert {"id", "statement", "paper", "ours", "verdict", "estimate", "interval", "n_seeds",
            "per_seed", "rule", "margin", "margin_reason", "fails_if", "precondition",
            "p_value", "test"} <= set(rows[1])  # fmt: skip
    assert "ID acc 50.0 %" in rows[1]["ours"] and "paired" in rows[1]["ours"]
    family = claims.explain(decide_families(rows))
    assert all(r["family_size"] == len(rows) for r in family)
    assert all(r["verdict"] == "held" for r in family[1:])
    assert "F2-distribution held" in claims.headline(family)


# ---- the interval: paired test samples, seeds, line ------------------------------------------


def test_paired_error_is_smaller_than_unpaired_for_agreeing_models():
    """Nested correctness (the treatment right wherever the control is, and more): the paired
    error is that of the few disagreements, far below two binomial errors in quadrature."""
    data = raw({"clip-diverse/zeroshot": [6.0, 7.0, 8.0]})
    t, c = data["points"]["clip-diverse/zeroshot"], data["points"]["clip-narrow"]
    paired = claims.paired_test_se(data, "clip-diverse/zeroshot", "clip-narrow")
    unpaired = claims.unpaired_test_se(t, c, LINE, N_TEST)
    assert np.all(paired < unpaired / 2), (paired, unpaired)
    # independent models: no agreement to exploit, paired ~ unpaired
    rng = np.random.default_rng(0)
    free = dict(data, points=dict(data["points"]))
    for role in ("clip-diverse/zeroshot", "clip-narrow"):
        er = [7.0, 7.0, 7.0] if role == "clip-diverse/zeroshot" else [0.0, 0.0, 0.0]
        free["points"][role] = point(er, rng=rng)
    ft, fc = free["points"]["clip-diverse/zeroshot"], free["points"]["clip-narrow"]
    ratio = claims.paired_test_se(free, "clip-diverse/zeroshot", "clip-narrow") / (
        claims.unpaired_test_se(ft, fc, LINE, N_TEST)
    )
    assert np.all(np.abs(ratio - 1) < 0.1), ratio


def test_paired_error_by_hand():
    """At equal ID accuracy (same β'), ΔER's test variance is the shifts' paired errors averaged
    plus β' times the ID split's paired error, each from `stats.paired_accuracy_se`."""
    rng = np.random.default_rng(1)
    n, x = 3000, 0.6
    bits = {
        "t": {"id": nested(x, n), **{s: rng.random(n) < 0.5 for s in SHIFTS}},
        "c": {"id": nested(x, n)[::-1].copy(), **{s: rng.random(n) < 0.4 for s in SHIFTS}},
    }
    points = {
        k: {"id": [float(b["id"].mean())], "ood": [{s: float(b[s].mean()) for s in SHIFTS}],
            "correct": [{"id": rec(b["id"]), "ood": {s: rec(b[s]) for s in SHIFTS}}]}
        for k, b in bits.items()
    }  # fmt: skip
    data = {"n_test": n, "line": LINE, "points": points}
    h = 1e-4
    slope = (beta(x + h) - beta(x - h)) / (2 * h)
    var = sum(stats.paired_accuracy_se(bits["t"][s], bits["c"][s]) ** 2 for s in SHIFTS) / 4
    var += slope**2 * stats.paired_accuracy_se(bits["t"]["id"], bits["c"]["id"]) ** 2
    got = claims.paired_test_se(data, "t", "c")
    assert got[0] == pytest.approx(100 * math.sqrt(var), rel=1e-3)


def test_interval_is_seed_spread_plus_shared_test_samples_plus_line():
    t = [2.0, 4.0, 6.0]
    data = raw({"clip-diverse/zeroshot": t})
    est = claims.delta_er(data, "clip-diverse/zeroshot", "clip-narrow")
    per_seed = est.per_seed
    se = claims.paired_test_se(data, "clip-diverse/zeroshot", "clip-narrow")
    seed_term, test_term = np.var(per_seed, ddof=1) / 3, np.mean(np.square(se))
    df = (seed_term + test_term) ** 2 * 2 / seed_term**2  # Welch-Satterthwaite (mmcl.stats)
    half = scipy_stats.t.ppf(0.975, df) * np.sqrt(seed_term + test_term)
    assert est.test == stats.SHARED and test_term > 0
    assert est.mean == pytest.approx(4.0, abs=0.1)
    assert est.high - est.mean == pytest.approx(half, rel=1e-6)
    # the line's bootstrap spread widens it when the two points sit at different x
    rng = np.random.default_rng(0)
    coeffs = np.column_stack([-0.5 + 0.1 * rng.standard_normal(200),
                              0.9 + 0.1 * rng.standard_normal(200)])  # fmt: skip
    far = raw({}, line=dict(LINE, coeffs=coeffs.tolist()))
    far["points"]["clip-narrow"] = point([0.0, 0.0, 0.0], x=0.3)
    far["points"]["clip-diverse/zeroshot"] = point(t, x=0.7)
    plain = dict(far, line=LINE)
    wide = claims.delta_er(far, "clip-diverse/zeroshot", "clip-narrow")
    narrow = claims.delta_er(plain, "clip-diverse/zeroshot", "clip-narrow")
    assert wide.mean == pytest.approx(narrow.mean)
    assert wide.high - wide.low > narrow.high - narrow.low + 0.5


def test_correctness_must_be_there_and_match_the_accuracy():
    data = raw({})
    del data["points"]["clip-narrow"]["correct"]
    with pytest.raises(MMCLError, match="clip-narrow: .*no per-sample correctness"):
        claims.delta_er(data, "clip-narrow-small", "clip-narrow")
    data = raw({"clip-narrow": [0.3, 0.1, 0.2]})
    narrow = data["points"]["clip-narrow"]
    narrow["id"] = [float(np.float32(x) + np.float32(1e-8)) for x in narrow["id"]]  # float32 means
    claims.delta_er(data, "clip-narrow-small", "clip-narrow")
    narrow["id"][1] += 0.01
    with pytest.raises(MMCLError, match="clip-narrow, seed 1, id"):
        claims.delta_er(data, "clip-narrow-small", "clip-narrow")


def test_one_seed_is_inconclusive():
    one = raw({r: [0.0] for r in ROLES} | {"clip-diverse/zeroshot": [20.0]})
    rows = {r["id"]: r for r in claims.decide_claims(one)}
    assert rows["F2-distribution"]["verdict"] == "inconclusive"
    assert rows["F2-distribution"]["interval"] == [None, None]


def test_seed_counts_must_match():
    data = raw({"clip-narrow": [0.0, 0.0]})
    with pytest.raises(ValueError, match="seeds"):
        claims.delta_er(data, "clip-diverse/zeroshot", "clip-narrow")


# ---- F0: the line, on the Fisher z scale -----------------------------------------------------


@pytest.mark.parametrize("r,n,verdict", [(0.999, 30, "held"), (0.8, 30, "not held"),
                                         (0.97, 7, "inconclusive"),
                                         (0.99, 3, "inconclusive")])  # fmt: skip
def test_line_claim(r, n, verdict):
    row = claims.decide_line(raw({}, line=dict(LINE, r=r, n=n)))
    assert row["id"] == "F0-line" and row["verdict"] == verdict, row
    assert f"r {r:.3f}" in row["ours"]


@pytest.mark.parametrize("r", [0.96, 0.98, 0.99, 0.993, 0.995, 0.999, 0.9, 0.5])
@pytest.mark.parametrize("n", [7, 12, 40])
def test_line_p_value_agrees_with_its_interval(r, n):
    """p < 0.05 exactly when the Fisher z interval excludes atanh(0.95), on the side it leans."""
    est = claims.line_estimate(r, n)
    z0 = math.atanh(MARGINS["line_r"].value)
    assert est.mean == pytest.approx(math.atanh(r)) and est.se == pytest.approx(
        1 / math.sqrt(n - 3)
    )
    assert math.isinf(est.df) and est.test == stats.SHARED and not est.exact
    direction, p = claims.line_claim().rule.test(est)
    assert (p < 0.05) == (est.low > z0 or est.high < z0)
    assert direction == ("held" if est.mean > z0 else "not held")


def test_undecided_line_asks_for_testbed_models_not_seeds():
    rows = claims.decide_claims(raw({}, line=dict(LINE, r=0.97, n=7)))
    family = {r["id"]: r for r in claims.explain(decide_families(rows))}
    line = family["F0-line"]
    assert line["verdict"] == "inconclusive"
    level = 0.05 / len(rows)  # nothing decided: the first Holm step's level
    q = scipy_stats.norm.ppf(1 - level / 2)
    want = math.ceil((q / (math.atanh(0.97) - math.atanh(0.95))) ** 2 + 3)
    assert f"about {want} independent testbed runs" in line["seeds_needed"]
    assert "testbed runs" in line["why"]


def test_the_line_counts_runs_not_their_snapshots():
    """29 snapshots of 4 runs are 4 independent models: r 0.82 is far under 0.95, but 4 runs
    cannot say so; the same r over 29 independent runs can."""
    snapshots = claims.decide_line(raw({}, line=dict(LINE, r=0.82, n=29, runs=4)))
    assert snapshots["verdict"] == "inconclusive"
    assert "29 testbed models from 4 runs" in snapshots["ours"]
    runs = claims.decide_line(raw({}, line=dict(LINE, r=0.82, n=29, runs=29)))
    assert runs["verdict"] == "not held"


def test_a_floor_made_by_the_line_asks_for_testbed_models():
    """An equivalence near its margin with a wobbly line: no seed count clears the shared floor,
    and the row says the line, not the test samples, makes it."""
    rng = np.random.default_rng(0)
    coeffs = np.column_stack([-0.5 + 0.3 * rng.standard_normal(200),
                              0.9 + 0.3 * rng.standard_normal(200)])  # fmt: skip
    data = raw(
        jittered({"clip-narrow-small": [2.0, 2.0, 2.0]}), line=dict(LINE, coeffs=coeffs.tolist())
    )
    data["points"]["clip-narrow-small"] = point([2.0, 2.1, 1.9], x=0.4)
    rows = {r["id"]: r for r in claims.explain(decide_families(claims.decide_claims(data)))}
    f1 = rows["F1-size"]
    assert f1["verdict"] == "inconclusive" and f1["shared_parts"]["line_se"] > 1.0
    assert f1["seeds_needed"].startswith("never by seeds: the shared floor")
    assert f1["seeds_needed"].endswith("more testbed models") and "testbed models" in f1["why"]


# ---- preconditions: the arms learn the task, the testbed covers them --------------------------


def test_preconditions_are_met_when_the_arms_learn_and_the_testbed_covers_them():
    rows = claims.decide_claims(raw(jittered({})))
    assert all(r["precondition"]["status"] == stats.MET for r in rows), rows
    f1 = next(r for r in rows if r["id"] == "F1-size")["precondition"]
    assert "clip-narrow-small ID 50.0%" in f1["evidence"] and "30%" in f1["rule"]


def test_an_arm_at_chance_fails_its_claims_precondition_and_only_theirs():
    data = raw(jittered({"ce-diverse": [20.0] * 3}))
    data["points"]["ce-diverse"] = point([20.0, 20.5, 19.5], x=0.12)  # reads the background
    rows = {r["id"]: r for r in explain_all(data)}
    for claim_id in ("F2-distribution-ce", "F5-loss"):
        assert rows[claim_id]["precondition"]["status"] == stats.FAILED
        assert rows[claim_id]["verdict"] == stats.INCONCLUSIVE
        assert rows[claim_id]["why"].startswith("not answerable here")
    assert rows["F1-size"]["precondition"]["status"] == stats.MET


@pytest.mark.parametrize(
    "bed,why",
    [
        (bed_at([0.3, 0.32, 0.35, 0.38, 0.4, 0.42, 0.44, 0.46]), "4 points above the testbed"),
        (bed_at([0.3, 0.31, 0.32, 0.9, 0.95, 0.97]), "inside the range, none near the arms"),
        (bed_at([0.45, 0.5, 0.55, 0.6]), "four near them, five asked"),
        (bed_at([0.45, 0.48, 0.5, 0.52, 0.55, 0.6], floor=0.7), "near them but under the floor"),
    ],
)
def test_a_testbed_that_does_not_cover_the_arms_fails_every_claim(bed, why):
    data = raw(jittered({}))
    data["points"]["clip-narrow"] = point([0.0, 0.1, -0.1], x=0.58)
    data["testbed"] = bed
    rows = claims.decide_claims(data)
    assert all(r["precondition"]["status"] == stats.FAILED for r in rows), why
    assert all(r["verdict"] == stats.INCONCLUSIVE for r in rows), why


def test_a_judged_model_just_past_the_testbeds_top_is_within_reach():
    data = raw(jittered({}))
    data["points"]["clip-narrow"] = point([0.0, 0.1, -0.1], x=0.58)
    data["testbed"] = bed_at([0.35, 0.4, 0.45, 0.5, 0.52, 0.56])  # 2 points short of 0.58
    rows = {r["id"]: r for r in claims.decide_claims(data)}
    assert rows["F1-size"]["precondition"]["status"] == stats.MET
    assert "within 3%" in rows["F1-size"]["precondition"]["rule"]


def test_f0_is_judged_over_every_cause_model_not_one_pair():
    """A testbed that covers the ID range of the two arms at 0.5 but not a third role at 0.9."""
    data = raw(jittered({}))
    data["points"]["clip-diverse/probe-id"] = point([0.0, 0.1, -0.1], x=0.9)
    data["testbed"] = bed_at(list(np.linspace(0.3, 0.7, 20)))
    rows = {r["id"]: r for r in claims.decide_claims(data)}
    assert rows["F0-line"]["precondition"]["status"] == stats.FAILED
    assert rows["F1-size"]["precondition"]["status"] == stats.MET
    assert rows["F4-id-head"]["precondition"]["status"] == stats.FAILED


def test_the_precondition_never_reads_the_compared_difference():
    """Same ID accuracies, any ΔER: the precondition's status and evidence do not change."""
    small = claims.decide_claims(raw({"clip-diverse/zeroshot": [5.0] * 3}))
    large = claims.decide_claims(raw({"clip-diverse/zeroshot": [30.0] * 3}))
    assert [r["precondition"] for r in small] == [r["precondition"] for r in large]


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda p: p["span_points"].update(value=2.5), r"span_points\.value must be a whole"),
        (lambda p: p["span_pad"].update(value=1.5), r"span_pad\.value must lie in"),
        (lambda p: p["span_reach"].update(value=-0.1), r"span_reach\.value must lie in"),
        (lambda p: p.pop("span_pad"), r"preconditions: no key 'span_pad'"),
    ],
)
def test_a_precondition_yaml_mistake_names_the_key(tmp_path, change, match):
    pre = {k: dict(v) for k, v in PRE_YAML.items()}
    change(pre)
    path = _write(tmp_path, {k: dict(v) for k, v in YAML.items()}, pre)
    with pytest.raises(MMCLError, match=match):
        claims.read_span_rule(path)


def explain_all(data: dict) -> list[dict]:
    return claims.explain(decide_families(claims.decide_claims(data)))
