"""xue2024 claims: every rule driven by fabricated per-seed results.

A clear effect gives "held", the reversed effect "not held", seeds that disagree "inconclusive";
seeds that agree to the sample (a zero-width interval) decide nothing; margins come from
configs/xue2024/claims.yaml; the linear model's C3/C4 are a check, not claims; C8 is an
intersection-union test over the losses. The image claims are in test_image_claims.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.experiments.xue2024 import checks as xchecks
from mmcl.experiments.xue2024 import claims as xc
from mmcl.experiments.xue2024.vector import SWEEPS

N_TEST = 4000
CLEAR, REVERSED, NONE, NOISE = (1, 1, 1), (-1, -1, -1), (0, 0, 0), (1, -1, 0)


def _acc(experiment: str, value, model: str, s: float) -> float:
    """OOD accuracy in a world whose every claimed effect has sign s (0: no effect)."""
    if model == "sl":
        return 0.5 + s * 0.2 * value if experiment == "sigma_spurious" else 0.65
    table = {
        "c1": lambda: 0.65 + s * 0.15,
        "sigma_core": lambda: 0.5 + s * 0.1 * value,
        "prototype": lambda: 0.6 + s * 0.1 * value,
        "sigma_spurious": lambda: 0.8,
        "sharing": lambda: 0.6 + s * 0.05 * {"all": 2, "class0": 1, "none": 0}[value],
        "richness": lambda: 0.6 + s * 0.1 * value,
        "p_train": lambda: 0.7,
    }
    return table[experiment]()


def fake_results(signs, override=None, same_test: bool = False) -> dict[str, list[dict]]:
    """Records of every sweep; seed k's effects have sign signs[k]. Per seed, test sample i is
    correct when u_i < accuracy, with u shared by every config (paired test draws) and drawn
    per seed (each seed its own test set) unless `same_test`."""
    results = {}
    for sweep in SWEEPS:
        rows = []
        for seed, s in enumerate(signs):
            u = np.random.default_rng(0 if same_test else seed).random(N_TEST)
            jitter = 0.0 if same_test else 0.01 * seed  # trained models differ by seed
            for value in sweep.values:
                for model in [m.label for m in sweep.models] + ["sl"]:
                    acc = _acc(sweep.name, value, model, s)
                    if override is not None:
                        acc = override(sweep.name, value, model, acc)
                    rows.append(
                        {
                            "experiment": sweep.name,
                            "seed": seed,
                            "param": sweep.param,
                            "value": value,
                            "model": model,
                            "learner": model.split("/")[0],
                            "ood_acc": float((u < acc).mean()),
                            "ood_correct": u < acc,
                            "zs_core_alignment": 0.5 + (s * 0.1 + jitter) * float(value)
                            if sweep.name == "sigma_core"
                            else 0.5,
                        }
                    )
        results[sweep.name] = rows
    return results


def _rows(signs, override=None) -> dict[str, dict]:
    return {r["id"]: r for r in xc.vector_claims(fake_results(signs, override))}


def _verdicts(signs, override=None) -> dict[str, str]:
    return {cid: r["verdict"] for cid, r in _rows(signs, override).items()}


def test_every_claim_has_its_rule_margin_and_the_shared_row_shape():
    rows = xc.vector_claims(fake_results(CLEAR))
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert {"C1/squared", "C2-alignment/infonce", "C4/squared/r4-ablation", "C8"} <= set(ids)
    for r in rows:
        assert {"verdict", "raw_verdict", "interval", "n_seeds", "rule", "paper"} <= set(r)
        assert r["n_seeds"] == 3 and "unknown" in r["paper"]
        assert r["test"] == stats.PER_SEED  # each seed draws its own test set
        margin = xc.MARGINS[xc.kind_of(r["id"])]
        assert (r["margin"], r["margin_reason"]) == (margin.value, margin.reason)
        assert r["fails_if"] and r["precondition"]["status"] == stats.NOT_CHECKED


def test_linear_c3_c4_are_checks_not_claims():
    ids = set(_verdicts(CLEAR))
    assert not {i for i in ids if i.startswith(("C3", "C4")) and i.endswith("/linear")}
    assert {"C1/linear", "C3/squared", "C4/infonce"} <= ids
    # the check: flat for no effect, failed for a clear one (fake linear moves with q there)
    assert xchecks.headline_flat_row(fake_results(NONE))["passed"]
    assert not xchecks.headline_flat_row(fake_results(CLEAR))["passed"]


@pytest.mark.parametrize(
    ("signs", "expected"),
    [(CLEAR, "held"), (REVERSED, "not held"), (NOISE, "inconclusive")],
)
def test_direction_claims_follow_the_numbers(signs, expected):
    for cid, verdict in _verdicts(signs).items():
        assert verdict == expected, cid


def test_zero_width_intervals_never_decide():
    # every seed scored on the same draws with the same effect: no spread, exact figures
    rows = xc.vector_claims(fake_results(CLEAR, same_test=True))
    assert all(r["exact"] and r["verdict"] == "inconclusive" for r in rows)
    # no effect at all: differences of identical predictions are exactly 0, never "not held"
    assert {r["verdict"] for r in xc.vector_claims(fake_results(NONE))} == {"inconclusive"}


def test_margins_are_read_from_the_claims_file(monkeypatch):
    assert set(xc.MARGINS) == set(xc.DIRECTIONS)
    assert xc.MARGINS["C3"].value == 0.01 and xc.MARGINS["C4"].value == 0.01
    assert "q" in xc.MARGINS["C4"].reason  # C4's margin is per unit of q
    # the same data, a margin above the C1 effect (0.15): C1 turns "not held"
    monkeypatch.setitem(xc.MARGINS, "C1", xc.Margin(0.3, "test"))
    verdicts = _verdicts(CLEAR)
    assert verdicts["C1/squared"] == "not held" and verdicts["C2-prototype/squared"] == "held"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("margins:\n  C1x: {value: 0.01, reason: r}\n", ["margins", "C1x", "did you mean"]),
        ("margins:\n  C1: {value: 0.01}\n", ["margins.C1", "reason"]),
        ("margins:\n  C1: {value: -1, reason: r}\n", ["margins.C1", "must be >= 0"]),
        ("margins:\n  C1: {value: 0.01, reason: r}\n", ["margins", "C2-alignment"]),
        ("margin:\n  C1: {value: 0.01, reason: r}\n", ["section", "margin"]),
    ],
)
def test_a_claims_file_error_names_the_file_and_the_key(tmp_path, text, names):
    """Each mistake in an otherwise complete file (the other kinds copied from the real one)."""
    path = tmp_path / "claims.yaml"
    others = "".join(
        f"  {kind}: {{value: 0.01, reason: r}}\n" for kind in xc.DIRECTIONS if kind != "C1"
    )
    if text.startswith("margins:") and "C2-alignment" not in names:
        text += others
    path.write_text(text)
    with pytest.raises(MMCLError) as error:
        xc.read_margins(path)
    assert str(path) in str(error.value)
    for name in names:
        assert name in str(error.value)


def test_c8_needs_every_loss_better_than_sl():
    assert _verdicts(CLEAR)["C8"] == "held"
    assert _verdicts(REVERSED)["C8"] == "not held"  # all losses agree, but MMCL is worse

    def one_loss_worse(experiment, value, model, acc):
        return 0.4 if (experiment, model) == ("c1", "infonce/T1") else acc

    row = _rows(CLEAR, one_loss_worse)["C8"]
    assert row["verdict"] == "not held" and "infonce/T1" in row["ours"]


def test_c8_is_an_intersection_union_test_not_a_minimum():
    # held: p is the weakest loss's; its interval is that loss's, not a per-seed minimum
    rows = _rows(CLEAR)
    c1_p = [rows[f"C1/{m}"]["p_value"] for m in ("linear", "squared", "infonce")]
    assert rows["C8"]["p_value"] >= max(c1_p)

    # one loss's seeds disagree, the rest clearly better: C8 neither held nor "not held"
    noisy = fake_results(CLEAR)
    for r in noisy["c1"]:
        if r["model"] == "infonce/T0.1":
            r["ood_acc"] = [0.9, 0.5, 0.72][r["seed"]]
    assert xc.c8_row(noisy)["verdict"] == "inconclusive"


def test_one_seed_is_inconclusive():
    rows = xc.vector_claims(fake_results((1,)))
    assert {r["verdict"] for r in rows} == {"inconclusive"}


def test_missing_sweeps_are_an_error():
    results = fake_results(CLEAR)
    del results["richness"]
    with pytest.raises(MMCLError, match="richness"):
        xc.vector_claims(results)


def test_loss_reading_names_each_learners_verdict_and_the_linear_check():
    results = fake_results(CLEAR)
    checks = [xchecks.headline_flat_row(results)]
    text = xc.loss_reading(xc.vector_claims(results), checks)
    assert "C4 (squared: held, infonce: held)" in text
    assert "linear-headline-flat, FAILED" in text
