"""`mmcl robustness` through a small argparse harness around `register`, and via `python -c`."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from mmcl.cli.robustness import register
from mmcl.errors import MMCLError
from mmcl.eval.robustness_inputs import read_results_json
from mmcl.eval.tasks import make_record, write_results

from ..browser import assert_reads_well

DATA = Path(__file__).parents[2].parent / "shared" / "data"
OPENCLIP = DATA / "openclip_classification_results.csv"
TESTBED = DATA / "imagenet-testbed_robustness_top1s.csv"
OOD5 = "ImageNet v2,ImageNet Sketch,ImageNet-R,ImageNet-A,ObjectNet"
needs_data = pytest.mark.skipif(not OPENCLIP.is_file(), reason="shared/data not present")


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mmcl")
    register(parser.add_subparsers())
    args = parser.parse_args(["robustness", *argv])
    return args.func(args)


def _table(path: Path, n: int = 12) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A small open_clip-like table in fractions; rows alternate between two 'pretrained' tags."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0.4, 0.8, n)
    tags = ["openai" if i % 2 == 0 else "other" for i in range(n)]
    offset = np.where(np.array(tags) == "other", 0.6, 0.0)
    y = special.expit(0.8 * special.logit(x) - 1.0 + offset + rng.normal(0, 0.05, n))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "pretrained", "ImageNet 1k", "ImageNet v2"])
        for i in range(n):
            w.writerow([f"M{i // 2}", tags[i], f"{x[i]:.4f}", f"{y[i]:.4f}"])
    return np.round(x, 4), np.round(y, 4), tags


@needs_data
def test_openclip_against_testbed_json(capsys):
    argv = ["--table", str(OPENCLIP), "--id", "ImageNet 1k", "--ood", OOD5,
            "--baseline-table", str(TESTBED), "--json", "--bootstrap", "50"]  # fmt: skip
    assert run_cli(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fits"]["avg5"]["n"] == 80
    models = {m["model"]: m for m in doc["models"]}
    assert len(models) == 121  # the testbed's baseline rows are fitted, not listed
    rn50 = models["RN50/openai"]
    assert rn50["pretrained"] == "openai" and rn50["name"] == "RN50"
    assert rn50["targets"]["avg5"]["er_pp"] == pytest.approx(24.14, abs=0.01)
    lo, hi = rn50["targets"]["avg5"]["er_ci_pp"]
    assert lo < rn50["targets"]["avg5"]["er_pp"] < hi
    ers = [m["targets"]["avg5"]["er_pp"] for m in doc["models"]]
    assert ers == sorted(ers, reverse=True)
    assert "averaged first" in doc["averaging"][0]


def test_baseline_where_own_rows_matches_polyfit(tmp_path, capsys):
    x, y, tags = _table(tmp_path / "t.csv")
    argv = ["--table", str(tmp_path / "t.csv"), "--id", "ImageNet 1k", "--ood", "ImageNet v2",
            "--baseline-where", "pretrained=openai", "--json", "--bootstrap", "0"]  # fmt: skip
    run_cli(argv)
    doc = json.loads(capsys.readouterr().out)
    base = np.array(tags) == "openai"
    slope, intercept = np.polyfit(special.logit(x[base]), special.logit(y[base]), 1)
    assert doc["fits"]["ImageNet v2"]["slope"] == pytest.approx(slope)
    assert doc["fits"]["ImageNet v2"]["intercept"] == pytest.approx(intercept)
    rec = {m["model"]: m for m in doc["models"]}["M0/other"]
    pred = special.expit(slope * special.logit(x[1]) + intercept)
    assert rec["targets"]["ImageNet v2"]["er_pp"] == pytest.approx(100 * (y[1] - pred))


def test_out_writes_json_png_html(tmp_path, capsys):
    _table(tmp_path / "t.csv")
    out = tmp_path / "out"
    argv = ["--table", str(tmp_path / "t.csv"), "--id", "ImageNet 1k", "--ood", "ImageNet v2",
            "--baseline-where", "pretrained=openai", "--bootstrap", "20", "--out", str(out),
            "--group-by", "pretrained"]  # fmt: skip
    run_cli(argv)
    text = capsys.readouterr().out
    assert "sorted by ER on ImageNet v2" in text
    assert json.loads((out / "robustness.json").read_text())["transform"] == "logit"
    png = (out / "robustness_ImageNet_v2.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "robustness.html").read_text()
    assert "<title>mmcl robustness" in page
    assert page.index("data:image/png;base64,") < page.index("<h3>Models</h3>")  # plot first
    assert "On ImageNet v2, the baseline" in page and "x logit(ID)" in page
    assert_reads_well(out / "robustness.html", ["Effective robustness", "Models"])


def test_missing_column_is_a_clear_error(tmp_path):
    _table(tmp_path / "t.csv")
    argv = ["--table", str(tmp_path / "t.csv"), "--id", "ImageNet 1k", "--ood", "ImageNet v3",
            "--baseline-where", "pretrained=openai"]  # fmt: skip
    with pytest.raises(MMCLError, match="did you mean 'ImageNet v2'"):
        run_cli(argv)


def test_python_c_entry(tmp_path):
    _table(tmp_path / "t.csv")
    code = (
        "import argparse, sys; from mmcl.cli.robustness import register; "
        "p = argparse.ArgumentParser(); register(p.add_subparsers()); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    table = str(tmp_path / "t.csv")
    argv = ["robustness", "--table", table, "--id", "ImageNet 1k", "--ood", "ImageNet v2",
            "--baseline-where", "pretrained=openai", "--bootstrap", "9"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "fit ImageNet v2: slope" in proc.stdout


def _run_results(folder: Path, model: str, task: str, accuracies: dict, **extra) -> Path:
    """An mmcl results.json: headline accuracies plus the attribute probes mmcl also writes."""
    records = [make_record(model, task, "shapes", s, 200, "accuracy", v, **extra)
               for s, v in accuracies.items()]  # fmt: skip
    records += [make_record(model, "attributes", "shapes", "balanced", 200, "accuracy", 0.3,
                            attribute=a, **extra) for a in ("shape", "color")]  # fmt: skip
    write_results(folder / "results.json", {"run": folder.name}, records)
    return folder / "results.json"


def test_mmcl_results_with_attribute_probes_are_read(tmp_path, capsys):
    """Attribute probes share split and metric with the headline: they must not collide."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(6):
        x = rng.uniform(0.5, 0.9)
        y = special.expit(special.logit(x) - 1.0)
        paths.append(_run_results(tmp_path / f"sup{k}", "supervised", "classifier",
                                  {"id": x, "spurious_reversed": y}))  # fmt: skip
    paths.append(_run_results(tmp_path / "clip", "clip", "zeroshot",
                              {"id": 0.7, "spurious_reversed": 0.6}))  # fmt: skip
    argv = [*map(str, paths), "--id", "id", "--ood", "spurious_reversed",
            "--baseline-where", "task=classifier", "--json", "--bootstrap", "0"]  # fmt: skip
    assert run_cli(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fits"]["spurious_reversed"]["n"] == 6  # one per run, none from the probes
    models = {m["model"] for m in doc["models"]}
    assert "clip" in models and "supervised [sup0]" in models  # same name, told apart by run


def test_checkpoint_results_become_one_point_per_step(tmp_path):
    points = [
        (step, s, v) for step in (2, 4) for s, v in (("id", 0.5 + step / 10), ("sketch", 0.3))
    ]
    records = [make_record("m", "zeroshot", "shapes", s, 100, "accuracy", v, step=step)
               for step, s, v in points]  # fmt: skip
    write_results(tmp_path / "checkpoint_results.json", {}, records)
    table = read_results_json([tmp_path / "checkpoint_results.json"])
    assert [row["model"] for row in table.rows] == ["m@step 2", "m@step 4"]
