"""xue2024 claims: every rule driven by fabricated per-seed results.

A clear effect gives "held", the reversed effect "not held", seeds that disagree "inconclusive";
seeds that agree to the sample (a zero-width interval) decide nothing; margins come from
configs/xue2024/claims.yaml; the linear model's C3/C4 are a check, not claims; C8 is an
intersection-union test over the losses; image differences take paired per-sample errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.xue2024 import checks as xchecks
from mmcl.experiments.xue2024 import claims as xc
from mmcl.experiments.xue2024.image_claims import image_claims
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


SHIFTS = ("spurious_reversed", "sketch", "unseen_colors")


def image_records(
    shift_acc: dict[tuple[str, str], list[float]], n: int = 20000, same_test: bool = False
) -> list[dict]:
    """Image records on every shift split (0.99 on `id`), with per-sample correctness: sample i
    of a split is right when u_i < the run's accuracy, u shared by every run of one seed (the
    same images) and drawn per seed unless `same_test` (files: one test set for all seeds)."""
    out = []
    for (learner, preset), per_seed in shift_acc.items():
        for seed, acc in enumerate(per_seed):
            for j, split in enumerate(("id", *SHIFTS)):
                u = np.random.default_rng([0 if same_test else seed, j]).random(n)
                correct = u < (0.99 if split == "id" else acc)
                out.append(
                    {
                        "experiment": "images",
                        "learner": learner,
                        "preset": preset,
                        "seed": seed,
                        "split": split,
                        "metric": "accuracy",
                        "value": float(correct.mean()),
                        "n_samples": n,
                        "correct": pack_correct(correct),
                    }
                )
    return out


def _runs(label, background, rich, supervised) -> dict:
    return {
        ("clip", "label"): label,
        ("clip", "background"): background,
        ("clip", "rich"): rich,
        ("supervised", "labels"): supervised,
    }


def _image_rows(*accs, n=20000, test=stats.PER_SEED, same_test=False) -> dict[str, dict]:
    records = image_records(_runs(*accs), n, same_test)
    return {c["id"]: c for c in image_claims(records, test=test)}


def _image_verdicts(*accs, **kwargs) -> dict[str, str]:
    return {cid: row["verdict"] for cid, row in _image_rows(*accs, **kwargs).items()}


def test_image_claims_follow_the_numbers():
    clear = _image_verdicts([0.4, 0.41, 0.39], [0.5, 0.52, 0.5], [0.7, 0.69, 0.71], [0.3] * 3)
    assert clear == {"IMG-C1": "held", "IMG-C4": "held"}
    reversed_ = _image_verdicts([0.7, 0.69, 0.71], [0.5, 0.52, 0.5], [0.4, 0.41, 0.39], [0.6] * 3)
    assert reversed_ == {"IMG-C1": "not held", "IMG-C4": "not held"}
    noise = _image_verdicts([0.5, 0.3, 0.4], [0.4, 0.4, 0.4], [0.3, 0.5, 0.4], [0.5, 0.3, 0.4])
    assert noise == {"IMG-C1": "inconclusive", "IMG-C4": "inconclusive"}
    rows = _image_rows([0.4] * 3, [0.5] * 3, [0.7] * 3, [0.3] * 3)
    assert {r["margin"] for r in rows.values()} == {0.01} and rows["IMG-C1"]["test"] == "per-seed"


def test_image_difference_takes_the_paired_error():
    n = 2000
    rows = _image_rows([0.4] * 3, [0.5] * 3, [0.72] * 3, [0.7] * 3, n=n)
    # two binomial errors in quadrature per split, mean of three splits
    unpaired = np.sqrt(2 * 0.71 * 0.29 / n) / np.sqrt(3)
    assert rows["IMG-C1"]["se_test"] < unpaired / 3  # the runs agree on most images


def test_per_seed_test_sets_show_their_noise_in_the_seed_spread():
    # the expected effects are 1.5 points (margin 1), but 100 images per split move them seed
    # to seed; the interval is over seeds alone and still sees that noise
    accs = ([0.40] * 3, [0.415] * 3, [0.445] * 3, [0.43] * 3)
    small = _image_verdicts(*accs, n=100)
    assert small == {"IMG-C1": "inconclusive", "IMG-C4": "inconclusive"}
    large = _image_verdicts(*accs, n=20000)
    assert large == {"IMG-C1": "held", "IMG-C4": "held"}


def test_a_shared_test_set_adds_its_test_term():
    accs = ([0.40] * 3, [0.41] * 3, [0.42] * 3, [0.40] * 3)
    # one test set for every seed: the seeds agree exactly, the test term alone sets the width
    rows = _image_rows(*accs, n=100, test=stats.SHARED, same_test=True)
    assert all(r["se_seed"] == 0 and r["se"] > 0 for r in rows.values())
    assert {r["verdict"] for r in rows.values()} == {"inconclusive"}
    # the same agreement read as per-seed test sets is an exact figure: it decides nothing
    exact = _image_rows(*accs, n=100, test=stats.PER_SEED, same_test=True)
    assert all(r["exact"] and r["verdict"] == "inconclusive" for r in exact.values())


def test_image_claims_need_clip_runs_and_skip_the_baseline_claim_without_one():
    with pytest.raises(MMCLError, match="run_images"):
        image_claims(image_records({("supervised", "labels"): [0.5]}), test=stats.PER_SEED)
    only_clip = image_records({("clip", "label"): [0.2, 0.2], ("clip", "rich"): [0.5, 0.5]})
    assert [c["id"] for c in image_claims(only_clip, test=stats.PER_SEED)] == ["IMG-C4"]


def test_image_records_without_per_sample_correctness_are_an_error():
    records = image_records(_runs([0.4] * 2, [0.5] * 2, [0.6] * 2, [0.3] * 2))
    for r in records:
        del r["correct"]
    with pytest.raises(MMCLError, match="rescore"):
        image_claims(records, test=stats.PER_SEED)
