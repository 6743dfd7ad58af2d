"""Effective robustness: fang2022.md sec. 5 regression targets, independent numpy/scipy checks."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from mmcl.errors import MMCLError
from mmcl.eval.robustness import (
    ModelPoint,
    RobustnessConfig,
    bootstrap_coeffs,
    compute_robustness,
    fit_line,
    independent_runs,
    prediction_band,
    to_document,
)
from mmcl.eval.robustness_inputs import (
    InputConfig,
    default_baseline_path,
    load_inputs,
    read_csv_table,
    shift_key,
)

DATA = Path(__file__).parents[2].parent / "shared" / "data"
TESTBED = DATA / "imagenet-testbed_robustness_top1s.csv"
OPENCLIP = DATA / "openclip_classification_results.csv"
TB_SHIFTS = ["imagenet_v2", "imagenet_sketch", "imagenet_r", "objectnet", "imagenet_a"]
OC_SHIFTS = ["ImageNet v2", "ImageNet Sketch", "ImageNet-R", "ObjectNet", "ImageNet-A"]
needs_data = pytest.mark.skipif(not TESTBED.is_file(), reason="shared/data not present")


def _by_label(result):
    return {m.point.label: m for m in result.models}


def _run(points, shifts, **cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compute_robustness(points, shifts, RobustnessConfig(**cfg))


# ---- fang2022.md section 5 regression targets -------------------------------------------------


@pytest.fixture(scope="module")
def openclip_points():
    cfg = InputConfig("ImageNet 1k", OC_SHIFTS, tables=[str(OPENCLIP)], baseline_table=str(TESTBED))
    return load_inputs(cfg).points


@pytest.fixture(scope="module")
def testbed_points():
    return load_inputs(InputConfig("imagenet", TB_SHIFTS, tables=[str(TESTBED)])).points


@needs_data
@pytest.mark.parametrize(
    ("transform", "exclude", "slope", "intercept"),
    [("logit", (), 1.0439, -1.8918), ("logit", ("ImageNet-A",), 0.9454, -1.5042),
     ("probit", (), 1.0682, -1.1767)],
)  # fmt: skip
def test_baseline_a_fits(openclip_points, transform, exclude, slope, intercept):
    res = _run(openclip_points, OC_SHIFTS, transform=transform, exclude_from_average=exclude,
               bootstrap=0)  # fmt: skip
    fit = res.fits[res.main_target.name].fit
    assert fit.n == 80
    assert fit.slope == pytest.approx(slope, abs=0.01)
    assert fit.intercept == pytest.approx(intercept, abs=0.01)


@needs_data
def test_baseline_a_per_shift_fits(openclip_points):
    res = _run(openclip_points, OC_SHIFTS, bootstrap=0)
    expected = {"ImageNet v2": (0.9316, -0.5087), "ImageNet Sketch": (1.1212, -2.4381),
                "ImageNet-R": (0.9116, -1.5999), "ObjectNet": (1.2311, -2.0674)}  # fmt: skip
    for name, (slope, intercept) in expected.items():
        assert res.fits[name].fit.slope == pytest.approx(slope, abs=0.01)
        assert res.fits[name].fit.intercept == pytest.approx(intercept, abs=0.01)


@needs_data
def test_er_table_openclip(openclip_points):
    res = _by_label(_run(openclip_points, OC_SHIFTS, bootstrap=1000))
    lo, hi = res["RN50/yfcc15m"].er_ci["avg5"]
    assert lo == pytest.approx(10.6, abs=0.06) and hi == pytest.approx(12.5, abs=0.06)
    expected = {"RN50/openai": 24.14, "ViT-L-14-336/openai": 39.89, "RN50/yfcc15m": 11.39,
                "RN101/yfcc15m": 13.06, "RN50/cc12m": 18.34}  # fmt: skip
    for label, er in expected.items():
        assert res[label].er["avg5"] == pytest.approx(er, abs=0.011)
    avg4 = _by_label(_run(openclip_points, OC_SHIFTS, exclude_from_average=("ImageNet-A",),
                          bootstrap=0))  # fmt: skip
    assert avg4["RN50/yfcc15m"].er["avg4"] == pytest.approx(9.00, abs=0.01)


@needs_data
def test_er_table_testbed_and_bootstrap_ci(testbed_points):
    res = _by_label(_run(testbed_points, TB_SHIFTS, bootstrap=1000))
    expected = {"resnet50": -1.76, "resnet50_clip_zeroshot": 23.70,
                "vit_b_32_clip_zeroshot": 27.51, "instagram-resnext101_32x48d": 18.23}  # fmt: skip
    for label, er in expected.items():
        assert res[label].er["avg5"] == pytest.approx(er, abs=0.01)
    lo, hi = res["resnet50_clip_zeroshot"].er_ci["avg5"]
    assert lo == pytest.approx(22.9, abs=0.06) and hi == pytest.approx(25.0, abs=0.06)


@needs_data
def test_shipped_baseline_is_testbed_standard_rows():
    shipped = read_csv_table(default_baseline_path())
    full = read_csv_table(TESTBED)
    expected = [r for r in full.rows if r["baseline_candidate"] == "1"]
    assert shipped.rows == expected


@needs_data
def test_imagenet_a_zero_is_clipped_with_warning(openclip_points):
    with pytest.warns(UserWarning, match="resnet50: ImageNet-A=0"):
        res = compute_robustness(openclip_points, OC_SHIFTS, RobustnessConfig(bootstrap=0))
    assert res.fits["ImageNet-A"].fit.n == 80
    assert any("resnet50: ImageNet-A=0" in n for n in res.notes)


# ---- independent computations on generated tables ---------------------------------------------


def _line_points(n=25, slope=0.9, intercept=-0.7, noise=0.05, seed=0, inv=special.expit,
                 fwd=special.logit):  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 0.9, n)
    y1 = inv(slope * fwd(x) + intercept + rng.normal(0, noise, n))
    y2 = inv(0.5 * slope * fwd(x) + intercept + rng.normal(0, noise, n))
    pts = [ModelPoint(f"b{i}", x[i], {"s1": y1[i], "s2": y2[i]}, baseline=True) for i in range(n)]
    return pts, x, y1, y2


@pytest.mark.parametrize(
    ("transform", "fwd", "inv"),
    [("logit", special.logit, special.expit), ("probit", stats.norm.ppf, stats.norm.cdf),
     ("linear", np.asarray, np.asarray)],
)  # fmt: skip
def test_fit_and_er_match_polyfit(transform, fwd, inv):
    pts, x, y1, y2 = _line_points(fwd=fwd, inv=inv)
    probe = ModelPoint("probe", 0.6, {"s1": 0.5, "s2": 0.4})
    res = _by_label(_run([*pts, probe], ["s1", "s2"], transform=transform, bootstrap=0))
    for name, y in (("s1", y1), ("s2", y2), ("avg2", (y1 + y2) / 2)):
        slope, intercept = np.polyfit(fwd(x), fwd(y), 1)
        pred = inv(slope * fwd(0.6) + intercept)
        probe_y = {"s1": 0.5, "s2": 0.4, "avg2": 0.45}[name]
        assert res["probe"].er[name] == pytest.approx(100 * (probe_y - pred), abs=1e-8)
        assert res["b3"].predicted[name] == pytest.approx(inv(slope * fwd(x[3]) + intercept))


def test_average_is_taken_before_the_transform():
    pts, x, y1, y2 = _line_points()
    fit = _run(pts, ["s1", "s2"], bootstrap=0).fits["avg2"].fit
    ref = stats.linregress(special.logit(x), special.logit((y1 + y2) / 2))
    wrong = stats.linregress(special.logit(x), (special.logit(y1) + special.logit(y2)) / 2)
    assert fit.slope == pytest.approx(ref.slope) and fit.r == pytest.approx(ref.rvalue)
    assert abs(fit.slope - wrong.slope) > 1e-4


def test_exact_line_gives_zero_er_and_known_offset():
    pts, x, _, _ = _line_points(noise=0.0)
    above = ModelPoint("above", 0.7, {"s1": special.expit(0.9 * special.logit(0.7) - 0.7) + 0.05,
                                      "s2": 0.5})  # fmt: skip
    res = _by_label(_run([*pts, above], ["s1", "s2"], bootstrap=50))
    assert all(abs(res[f"b{i}"].er["s1"]) < 1e-9 for i in range(len(x)))
    assert res["above"].er["s1"] == pytest.approx(5.0, abs=1e-9)
    assert res["above"].er_ci["s1"] == pytest.approx((5.0, 5.0), abs=1e-9)


def test_bootstrap_matches_naive_testbed_loop():
    _, x, y1, _ = _line_points(n=15)
    coeffs = bootstrap_coeffs(x, y1, "logit", 200, seed=7)
    rng = np.random.RandomState(7)
    naive = []
    for _ in range(200):
        idx = rng.choice(15, 15)
        slope, intercept = np.polyfit(special.logit(x[idx]), special.logit(y1[idx]), 1)
        naive.append((intercept, slope))
    np.testing.assert_allclose(coeffs, np.array(naive), atol=1e-8)
    preds = np.array([special.expit(b + a * special.logit(0.5)) for b, a in naive])
    lo, hi = prediction_band(coeffs, np.array([0.5]), "logit")
    assert lo[0] == pytest.approx(np.sort(preds)[4])  # 2.5th percentile, 'lower' of 200 -> idx 4
    assert hi[0] == pytest.approx(np.sort(preds)[195])  # 97.5th, 'higher' -> idx 195


def test_bootstrap_resamples_runs_when_points_are_checkpoints_of_runs():
    """Snapshots of one run share its offset from the line: resampling points treats 5 runs of
    6 checkpoints as 30 independent models and understates the slope's spread; resampling runs
    does not. Distinct clusters (or none) give imagenet-testbed's point bootstrap exactly."""
    rng = np.random.default_rng(0)
    x = np.linspace(0.3, 0.9, 6)
    offsets = rng.normal(0.0, 0.6, 5)  # each run's own shift from the line, logit scale
    runs = [f"run{k}" for k in range(5) for _ in x]
    xs = np.concatenate([x + 0.02 * k for k in range(5)])
    ys = special.expit(0.8 * special.logit(xs) + np.repeat(offsets, len(x)))
    by_point = bootstrap_coeffs(xs, ys, "logit", 400, seed=1)
    by_run = bootstrap_coeffs(xs, ys, "logit", 400, seed=1, clusters=runs)
    assert by_run[:, 0].std() > 2 * by_point[:, 0].std()  # the intercept's spread, 5 runs
    own = [f"p{i}" for i in range(len(xs))]
    np.testing.assert_array_equal(bootstrap_coeffs(xs, ys, "logit", 50, 3, clusters=own),
                                  bootstrap_coeffs(xs, ys, "logit", 50, 3))  # fmt: skip
    points = [ModelPoint(f"m{i}", 0.5, {}, cluster=c) for i, c in enumerate([*runs, "", ""])]
    assert independent_runs(points) == 7  # 5 runs, and two points that are runs of their own


def test_linregress_is_the_point_fit():
    _, x, y1, _ = _line_points()
    ref = stats.linregress(special.logit(x), special.logit(y1))
    fit = fit_line(x, y1, "logit")
    assert (fit.slope, fit.intercept) == pytest.approx((ref.slope, ref.intercept))


def test_relative_robustness_is_ood_gain_over_reference():
    pts, *_ = _line_points()
    res = _by_label(_run(pts, ["s1", "s2"], bootstrap=0, reference="b0"))
    for label in ("b1", "b7"):
        gain = 100 * (res[label].point.ood["s2"] - res["b0"].point.ood["s2"])
        assert res[label].relative["s2"] == pytest.approx(gain)
    with pytest.raises(MMCLError, match="did you mean 'b7'"):
        _run(pts, ["s1", "s2"], bootstrap=0, reference="b_7")


def test_sorted_by_er_on_average_and_json_ready():
    pts, *_ = _line_points()
    res = _run(pts, ["s1", "s2"], bootstrap=20)
    ers = [m.er["avg2"] for m in res.models]
    assert ers == sorted(ers, reverse=True)
    doc = json.loads(json.dumps(to_document(res, "test")))
    assert "averaged first" in doc["averaging"][0]
    assert set(doc["models"][0]["targets"]) == {"s1", "s2", "avg2"}


# ---- degenerate input -------------------------------------------------------------------------


def test_zero_accuracy_policies():
    pts, *_ = _line_points()
    pts[2].ood["s1"] = 0.0
    with pytest.warns(UserWarning, match="b2: s1=0"):
        res = compute_robustness(pts, ["s1", "s2"], RobustnessConfig(bootstrap=0, eps=0.01))
    x = np.array([p.id_acc for p in pts])
    y = np.array([p.ood["s1"] for p in pts])
    ref = stats.linregress(special.logit(x), special.logit(np.clip(y, 0.01, 0.99)))
    assert res.fits["s1"].fit.slope == pytest.approx(ref.slope)
    raw_mean = (pts[2].ood["s1"] + pts[2].ood["s2"]) / 2  # the average is taken before clipping
    assert _by_label(res)["b2"].acc["avg2"] == pytest.approx(raw_mean)
    with pytest.raises(MMCLError, match="b2: s1=0"):
        compute_robustness(pts, ["s1", "s2"], RobustnessConfig(bootstrap=0, degenerate="error"))
    res = _by_label(_run(pts, ["s1", "s2"], bootstrap=0, degenerate="drop",
                         complete_baseline=False))  # fmt: skip
    assert "s1" not in res["b2"].er and "s2" in res["b2"].er
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # linear axes need no clipping
        compute_robustness(pts, ["s1", "s2"], RobustnessConfig(bootstrap=0, transform="linear"))


def test_too_few_baseline_points():
    pts, *_ = _line_points(n=2)
    with pytest.raises(MMCLError, match="at least 3"):
        _run(pts, ["s1"], bootstrap=0)


def test_baseline_with_one_id_accuracy_names_the_problem():
    with pytest.raises(MMCLError, match="different ID accuracies"):
        fit_line(np.full(4, 0.6), np.array([0.2, 0.3, 0.25, 0.4]), "logit")


def test_missing_shift_is_skipped_and_noted():
    pts, *_ = _line_points()
    pts.append(ModelPoint("partial", 0.6, {"s1": 0.5}))
    res = _run(pts, ["s1", "s2"], bootstrap=0)
    partial = _by_label(res)["partial"]
    assert "s1" in partial.er and "s2" not in partial.er and "avg2" not in partial.er
    assert any("partial has no ['s2']" in n for n in res.notes)


def test_unknown_transform_and_average():
    pts, *_ = _line_points()
    with pytest.raises(MMCLError, match="did you mean 'logit'"):
        _run(pts, ["s1"], transform="logitt")
    with pytest.raises(MMCLError, match="not among --ood"):
        _run(pts, ["s1", "s2"], exclude_from_average=("s3",))


# ---- inputs -----------------------------------------------------------------------------------


def _write_table(path: Path, scale: float, header=("name", "tag", "ImageNet 1k", "ImageNet v2")):
    pts, x, y1, _ = _line_points(n=8)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(8):
            w.writerow([f"m{i % 4}", f"t{i // 4}", x[i] * scale, "" if i == 7 else y1[i] * scale])
    return x, y1


def test_percent_and_fraction_tables_agree(tmp_path):
    _write_table(tmp_path / "pct.csv", 100.0)
    _write_table(tmp_path / "frac.csv", 1.0)
    runs = []
    for name in ("pct.csv", "frac.csv"):
        cfg = InputConfig("ImageNet 1k", ["ImageNet v2"], tables=[str(tmp_path / name)],
                          baseline_where="tag=t0")  # fmt: skip
        runs.append(_run(load_inputs(cfg).points, ["ImageNet v2"], bootstrap=0))
    assert runs[0].fits["ImageNet v2"].fit == runs[1].fits["ImageNet v2"].fit
    labels = [m.point.label for m in runs[0].models]
    assert "m0/t1" in labels  # name repeats, so the tag joins the label
    cfg = InputConfig("ImageNet 1k", ["ImageNet v2"], tables=[str(tmp_path / "pct.csv")],
                      baseline_where="tag=t0", unit="fraction")  # fmt: skip
    with pytest.raises(MMCLError, match="--fraction"):
        load_inputs(cfg)


def test_column_errors_suggest_nearest(tmp_path):
    _write_table(tmp_path / "t.csv", 1.0)
    cfg = InputConfig("ImageNet 1k", ["ImageNet v3"], tables=[str(tmp_path / "t.csv")],
                      baseline_where="tag=t0")  # fmt: skip
    with pytest.raises(MMCLError, match=r"'ImageNet v3'.*did you mean 'ImageNet v2'.*available"):
        load_inputs(cfg)
    cfg = InputConfig("ImageNet 1k", ["ImageNet v2"], tables=[str(tmp_path / "t.csv")],
                      baseline_where="tagg=t0")  # fmt: skip
    with pytest.raises(MMCLError, match="did you mean 'tag'"):
        load_inputs(cfg)


def test_shift_names_normalise_across_tables():
    assert shift_key("ImageNet v2") == shift_key("imagenet_v2") == shift_key("ImageNet-V2")
    assert shift_key("ImageNet 1k") == shift_key("imagenet")
    assert shift_key("ImageNet-A") == shift_key("imagenet_a") != shift_key("imagenet_r")


def test_results_json_points(tmp_path):
    records = []
    for i, (acc_id, acc_ood) in enumerate([(0.5, 0.3), (0.6, 0.4), (0.7, 0.5), (0.8, 0.7)]):
        task = "ce" if i < 3 else "clip"
        for split, v in (("id", acc_id), ("shift", acc_ood)):
            records.append({"model": f"m{i}", "task": task, "dataset": "w", "split": split,
                            "n_samples": 100, "metric": "accuracy", "value": v})  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps({"meta": {}, "records": records}))
    cfg = InputConfig("id", ["shift"], results=[str(tmp_path / "results.json")],
                      baseline_where="task=ce")  # fmt: skip
    pts = load_inputs(cfg).points
    assert [p.baseline for p in pts] == [True, True, True, False]
    res = _by_label(_run(pts, ["shift"], bootstrap=0))
    ref = stats.linregress(special.logit([0.5, 0.6, 0.7]), special.logit([0.3, 0.4, 0.5]))
    pred = special.expit(ref.slope * special.logit(0.8) + ref.intercept)
    assert res["m3"].er["shift"] == pytest.approx(100 * (0.7 - pred))


def test_no_baseline_for_non_imagenet(tmp_path):
    _write_table(tmp_path / "t.csv", 1.0, header=("name", "tag", "id", "ood"))
    with pytest.raises(MMCLError, match="--baseline-table"):
        load_inputs(InputConfig("id", ["ood"], tables=[str(tmp_path / "t.csv")]))


def test_accuracy_of_one_and_missing_id_column(tmp_path):
    pts, *_ = _line_points()
    pts[4].id_acc, pts[5].ood["s2"] = 1.0, 1.0
    with pytest.raises(MMCLError, match=r"b4: ID=1.*b5: s2=1"):
        compute_robustness(pts, ["s1", "s2"], RobustnessConfig(bootstrap=0, degenerate="error"))
    with pytest.warns(UserWarning, match="clipped accuracies of 0 or 1"):
        res = compute_robustness(pts, ["s1", "s2"], RobustnessConfig(bootstrap=0, eps=0.01))
    x = np.clip([p.id_acc for p in pts], 0.01, 0.99)
    y = np.clip([p.ood["s2"] for p in pts], 0.01, 0.99)
    ref = stats.linregress(special.logit(x), special.logit(y))
    assert res.fits["s2"].fit.slope == pytest.approx(ref.slope)
    _write_table(tmp_path / "t.csv", 1.0)
    cfg = InputConfig("top1", ["ImageNet v2"], tables=[str(tmp_path / "t.csv")],
                      baseline_where="tag=t0")  # fmt: skip
    with pytest.raises(MMCLError, match=r"column 'top1' not found.*available"):
        load_inputs(cfg)
