"""xue2024's image claims on fabricated records: decided on `spurious_reversed` with the other
splits beside (the mean of the given shifts on files), paired per-sample errors, the supervised
arm's shape probe as every row's precondition, and C5 (details vs the shortcut) two-sided."""

from __future__ import annotations

import numpy as np
import pytest

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.xue2024 import claims as xc
from mmcl.experiments.xue2024.image_claims import image_claims
from mmcl.verdicts import decide_families

SHIFTS = ("spurious_reversed", "sketch", "unseen_colors")


def image_records(
    shift_acc: dict[tuple[str, str], list[float]],
    n: int = 20000,
    same_test: bool = False,
    others: float | None = None,
    splits: tuple[str, ...] = ("id", *SHIFTS),
) -> list[dict]:
    """Image records on every split (0.99 on `id`), with per-sample correctness: sample i of a
    split is right when u_i < the run's accuracy, u shared by every run of one seed (the same
    images) and drawn per seed unless `same_test` (files: one test set for all seeds). The run's
    accuracy holds on every shift split, or only on `spurious_reversed` when `others` is given
    (then the other shifts get `others`)."""
    out = []
    for (learner, preset), per_seed in shift_acc.items():
        for seed, acc in enumerate(per_seed):
            for j, split in enumerate(splits):
                u = np.random.default_rng([0 if same_test else seed, j]).random(n)
                level = acc if others is None or split == "spurious_reversed" else others
                correct = u < (0.99 if split in ("id", "val") else level)
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


def probe_records(per_seed: list[float], n: int = 500, chance: float = 0.1) -> list[dict]:
    """The supervised runs' `attributes` records for the shape on `balanced`."""
    out = []
    for seed, acc in enumerate(per_seed):
        for metric, value in (("accuracy", acc), ("uniform_chance", chance)):
            out.append(
                {
                    "experiment": "images",
                    "task": "attributes",
                    "learner": "supervised",
                    "preset": "labels",
                    "seed": seed,
                    "split": "balanced",
                    "attribute": "shape",
                    "metric": metric,
                    "value": value,
                    "n_samples": n,
                }
            )
    return out


def _runs(label, background, rich, supervised, details=None) -> dict:
    runs = {
        ("clip", "label"): label,
        ("clip", "background"): background,
        ("clip", "rich"): rich,
        ("supervised", "labels"): supervised,
    }
    return runs if details is None else {**runs, ("clip", "details"): details}


def _image_rows(*accs, n=20000, test=stats.PER_SEED, same_test=False, **kw) -> dict[str, dict]:
    records = image_records(_runs(*accs), n, same_test, **kw)
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


def test_claims_are_decided_on_spurious_reversed_with_the_other_splits_beside():
    # every run is the same 0.9 on sketch and unseen colours; only spurious_reversed differs
    accs = ([0.4, 0.41, 0.39], [0.5, 0.52, 0.5], [0.7, 0.69, 0.71], [0.3, 0.31, 0.3])
    rows = _image_rows(*accs, others=0.9)
    c1 = rows["IMG-C1"]
    assert c1["estimate"] == pytest.approx(0.4, abs=0.02)  # 0.7 - 0.3, not a third of it
    assert c1["verdict"] == "held" and "spurious_reversed" in c1["statement"]
    assert "sketch 0.9" in c1["ours"] and "unseen_colors 0.9" in c1["ours"]
    # a model that reads only the background: right on the kept-background splits, wrong on
    # spurious_reversed; a mean over the three would call it the better one
    bg_reader = _image_rows([0.4] * 3, [0.5] * 3, [0.05, 0.06, 0.05], [0.3, 0.31, 0.3], others=1.0)
    assert bg_reader["IMG-C1"]["verdict"] == "not held"


def test_on_files_the_figure_is_the_mean_of_the_given_shifts():
    runs = _runs([0.4] * 2, [0.5] * 2, [0.6] * 2, [0.3] * 2)
    records = image_records(runs, 2000, same_test=True, splits=("val", "blur", "snow"))
    rows = {c["id"]: c for c in image_claims(records, test=stats.SHARED)}
    assert "blur + snow" in rows["IMG-C1"]["statement"]
    assert rows["IMG-C1"]["estimate"] == pytest.approx(0.3, abs=0.03)
    assert all(r["precondition"]["rule"] == "none stated" for r in rows.values())


def test_every_row_carries_the_supervised_shape_probe_as_its_precondition():
    runs = _runs([0.4, 0.41, 0.39], [0.5, 0.52, 0.5], [0.7, 0.69, 0.71], [0.3] * 3, [0.6] * 3)
    clear = image_records(runs)
    learns = image_claims([*clear, *probe_records([0.8, 0.82, 0.79])], test=stats.PER_SEED)
    assert {r["id"] for r in learns} == {"IMG-C1", "IMG-C4", "IMG-C5"}
    for row in learns:
        assert row["precondition"]["status"] == stats.MET and "shape" in row["precondition"]["rule"]
        assert "30%" in row["precondition"]["rule"]  # 3x the probe's own chance (10%)
        assert row["raw_verdict"] == "held"
    # the same arm differences where the supervised arm reads no shape: nothing is decided
    blind = image_claims([*clear, *probe_records([0.12, 0.15, 0.11])], test=stats.PER_SEED)
    for row in blind:
        assert row["precondition"]["status"] == stats.FAILED
        assert row["raw_verdict"] == "inconclusive" and row["leans"] == "held"
    # a probe near the bar with a wide seed spread fails on its interval's lower end
    spread = image_claims([*clear, *probe_records([0.9, 0.3, 0.5])], test=stats.PER_SEED)
    assert spread[0]["precondition"]["status"] == stats.FAILED
    # without the probe records (an older sweep) the rows say nothing was stated
    assert image_claims(clear, test=stats.PER_SEED)[0]["precondition"]["rule"] == "none stated"


def test_c5_compares_details_with_the_shortcut_either_way_and_c4_keeps_its_chain():
    base = ([0.4, 0.41, 0.39], [0.5, 0.52, 0.5], [0.7, 0.69, 0.71], [0.3] * 3)
    better = _image_rows(*base, [0.7, 0.71, 0.72])
    worse = _image_rows(*base, [0.3, 0.31, 0.29])
    same = _image_rows(*base, [0.502, 0.521, 0.501])  # within a point of the shortcut
    assert better["IMG-C5"]["verdict"] == worse["IMG-C5"]["verdict"] == "held"
    assert better["IMG-C5"]["estimate"] > 0 > worse["IMG-C5"]["estimate"]
    assert same["IMG-C5"]["verdict"] == "not held"  # inside +/- the margin
    assert better["IMG-C5"]["rule_kind"] == "Differs" and better["IMG-C5"]["margin"] == 0.01
    # details is not a richness rank: C4 is the label < background < rich chain either way
    assert better["IMG-C4"]["estimate"] == worse["IMG-C4"]["estimate"]
    assert "label < background < rich" in better["IMG-C4"]["statement"]
    noisy = _image_rows(*base, [0.3, 0.7, 0.5])
    assert noisy["IMG-C5"]["verdict"] == "inconclusive"


def test_differs_mirrors_equivalent():
    rule = xc.Differs(0.01)
    est = stats.estimate([0.05, 0.06, 0.04], test=stats.PER_SEED)
    assert rule.decide(est) == "held" and stats.Equivalent(0.01).decide(est) == "not held"
    tight = stats.estimate([0.001, -0.001, 0.0], test=stats.PER_SEED)
    assert rule.decide(tight) == "not held" and rule.distance(tight) == pytest.approx(0.01)


def test_an_undecided_c5_needs_the_same_seeds_whichever_way_it_leans():
    base = ([0.4] * 3, [0.5, 0.52, 0.5], [0.7] * 3, [0.3] * 3)
    up = _image_rows(*base, [0.52, 0.58, 0.51])["IMG-C5"]
    down = _image_rows(*base, [0.48, 0.46, 0.49])["IMG-C5"]
    assert up["verdict"] == down["verdict"] == "inconclusive"
    [up], [down] = decide_families([up]), decide_families([down])
    assert up["seeds_needed"] == down["seeds_needed"]  # the same distance to the +/- band


def test_image_difference_takes_the_paired_error():
    n = 2000
    rows = _image_rows([0.4] * 3, [0.5] * 3, [0.72] * 3, [0.7] * 3, n=n)
    unpaired = np.sqrt(2 * 0.71 * 0.29 / n)  # two binomial errors in quadrature, one split
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
