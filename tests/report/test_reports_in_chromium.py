"""The demo report and a two-run `mmcl report RUN1 RUN2`, opened in headless Chromium at 1280 px:
no sideways scrolling, no table cut off inside its box, every image loaded, the captions say
which uncertainty each interval holds and which points sit on a logit axis's edge.

The fast tests build their inputs (run folders in the format training writes, a demo result
through the demo's own estimates); the slow ones train tiny runs and a tiny demo first.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from mmcl.cli import main
from mmcl.eval.tasks import read_results, write_results
from mmcl.experiments import demo
from mmcl.report import demo as demo_report
from mmcl.report.accuracy_axis import EDGE_LABEL
from mmcl.report.demo import write_demo_report

from ..browser import assert_reads_well
from ..conftest import TINY
from ..train.runs import write_config
from .demo_result import demo_result
from .drawn import assert_every_point_shown, legend_texts
from .records import attribute_records, headline_records

RUN_SECTIONS = ["Accuracy under shift", "The id-shift plane", "Which features each model keeps",
                "What this shows", "Training curves", "Robustness over training"]  # fmt: skip
DEMO_SECTIONS = ["Over spurious strength", "The id-shift plane", "Which features each arm keeps",
                 "Training curves"]  # fmt: skip


def _run_folder(root: Path, model: str, method: str, seed: int) -> Path:
    """A run folder as training leaves it: results.json, and metrics.jsonl whose periodic
    scores reach 0% on sketch."""
    run = root / f"{model}_run"
    meta = {"run": run.name, "config_hash": f"hash{seed}", "seed": seed, "method": method,
            "steps": 30, "machine": "test box"}  # fmt: skip
    write_results(run / "results.json", meta, headline_records(model) + attribute_records(model))
    task = "zeroshot" if model == "clip" else "classifier"
    rows = [{"step": s, "loss": 2.0 / s, "lr": 1e-3, "train_s": s / 10,
             f"eval/{task}/id": 0.1 * s / 10, f"eval/{task}/sketch": 0.0 if s < 30 else 0.05}
            for s in (10, 20, 30)]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def _check_run_report(out: Path) -> str:
    """The merged report reads well at 1280 px with every shift table block whole."""
    assert_reads_well(out, RUN_SECTIONS, tables_whole=True)
    page = out.read_text()
    assert page.count("<table class='mmcl-shift'>") == 3  # headline, linear probes, attributes
    assert "They hold test-sample noise only" in page  # what the whiskers are
    assert "No baseline line is drawn" in page  # and none is claimed
    return page


def test_a_two_run_report_through_the_cli_fits_1280_px(tmp_path):
    runs = [_run_folder(tmp_path, "clip", "clip", 0), _run_folder(tmp_path, "supervised",
                                                                  "supervised", 1)]  # fmt: skip
    out = tmp_path / "merged" / "report.html"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    page = _check_run_report(out)
    assert "hollow triangles on the panel's edge: clip on sketch." in page
    assert (out.with_name("report.png")).is_file()  # the screenshot a person looks at


def test_the_demo_report_fits_1280_px_and_names_its_intervals(tmp_path):
    report = write_demo_report(demo_result(), tmp_path)
    assert_reads_well(report, DEMO_SECTIONS, tables_whole=True)
    page = html.unescape(report.read_text())
    assert "the drop's holds the seeds' spread only" in page
    assert "resampled with replacement (the line's uncertainty only)" in page
    assert "(no logit), drawn as hollow triangles on the edge: clip_rich: 2 seeds" in page


@pytest.mark.slow  # 11 tiny training runs: 70 s on a 2-core machine shared with others
def test_a_tiny_demo_draws_every_point_and_fits_1280_px(tmp_path, world_cache):
    tiny = [f"data.cache_dir={world_cache}", "data.shapes.n_train=256", "data.shapes.n_test=200",
            "train.steps=8", "train.batch_size=32", "train.warmup_steps=1",
            "train.checkpoint_every=2", "eval.probe_train_size=100"]  # fmt: skip
    result = demo.run_demo(demo.DemoScale(seeds=(0, 1), strengths=(0.9,)), tmp_path, 1, tiny)
    (at,) = result["by_strength"]
    (ax,) = demo_report.testbed_figure(at, demo.SHIFT).axes
    seeds = sum(len(f["id"]["per_seed"]) for f in at["arms"].values())
    assert_every_point_shown(ax, expected=len(at["testbed"]["points"]) + seeds + len(at["arms"]))
    assert (EDGE_LABEL in legend_texts(ax)) == bool(demo_report.edge_points(at, demo.SHIFT))
    report = write_demo_report(result, tmp_path)
    assert_reads_well(report, ["The id-shift plane", "Which features each arm keeps",
                               "Training curves", "What the splits look like"],
                      tables_whole=True)  # fmt: skip


@pytest.mark.slow  # two tiny runs scored every 5 steps: 95 s on a shared 2-core machine
def test_two_trained_runs_merged_by_mmcl_report_fit_1280_px(tmp_path, world_cache):
    runs = []
    for method in ("clip", "supervised"):
        overrides = [*TINY, f"data.cache_dir={world_cache}", f"out_dir={tmp_path}",
                     f"name={method}", f"method.name={method}", "train.steps=10", "eval.every=5",
                     "eval.tasks=[zeroshot,classifier,linear_probe,attributes]"]  # fmt: skip
        config = write_config(tmp_path / f"{method}.yaml", overrides)
        assert main(["train", str(config)]) == 0
        runs.append(tmp_path / method)
    records = read_results(runs[0] / "results.json")["records"]
    assert any(r["metric"] == "uniform_chance" for r in records)  # the chance line's source
    out = tmp_path / "merged" / "report.html"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    _check_run_report(out)
