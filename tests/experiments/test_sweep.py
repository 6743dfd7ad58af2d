"""`mmcl sweep`: grid parsing, planning by config hash, caching, and aggregation with intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmcl import stats
from mmcl.cli import main
from mmcl.errors import MMCLError
from mmcl.eval.tasks import make_record, write_results
from mmcl.experiments import sweep
from mmcl.report.sweep import write_sweep_report
from mmcl.runs import door

from ..browser import assert_reads_well

CONFIG = Path(__file__).parents[2] / "configs" / "clip_shapes.yaml"


def test_grid_parses_axes_values_and_seeds():
    axes, seeds = sweep.parse_grid(
        ["train.steps=4,8", "data.shapes.spurious_strength=0.5", "seeds=0,2"]
    )
    assert axes == [
        sweep.Axis("train.steps", (4, 8)),
        sweep.Axis("data.shapes.spurious_strength", (0.5,)),
    ]
    assert seeds == (0, 2)
    assert sweep.parse_grid(["train.steps=4"])[1] == (0,)
    assert sweep.grid_points(axes) == [
        (("train.steps", 4), ("data.shapes.spurious_strength", 0.5)),
        (("train.steps", 8), ("data.shapes.spurious_strength", 0.5)),
    ]


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("train.steps", "write key=v1,v2"),
        ("seeds=a,b", "seeds are integers"),
        ("seeds=1,1", "repeat a seed"),
        ("train.seed=1,2", "seeds=0,1,2"),
    ],
)
def test_bad_grid_arguments_say_how_to_write_them(arg, message):
    with pytest.raises(MMCLError, match=message):
        sweep.parse_grid([arg])


def test_a_key_given_twice_is_an_error():
    with pytest.raises(MMCLError, match="given twice"):
        sweep.parse_grid(["train.steps=1", "train.steps=2"])


def test_plan_names_runs_by_config_and_validates_before_training(tmp_path):
    axes, seeds = sweep.parse_grid(["train.steps=4,8", "seeds=0,1"])
    runs = sweep.plan(CONFIG, axes, seeds, tmp_path)
    assert len({r.run_dir for r in runs}) == 4
    assert [r.run_dir for r in sweep.plan(CONFIG, axes, seeds, tmp_path)] == [
        r.run_dir for r in runs
    ]
    assert {r.cfg.train.seed for r in runs} == {0, 1}
    moved = sweep.plan(CONFIG, axes, seeds, tmp_path, ["train.lr=0.001"])
    assert not {r.run_dir for r in moved} & {r.run_dir for r in runs}
    with pytest.raises(MMCLError, match="train.stepz"):
        sweep.plan(CONFIG, [sweep.Axis("train.stepz", (1,))], (0,), tmp_path)


def _fake_results(run: sweep.SweepRun, accuracy: float) -> None:
    record = make_record("clip", "zeroshot", "shapes", "id", 400, "accuracy", accuracy)
    meta = {"config_hash": sweep.config_hash(run.cfg), "run_key": door.run_key(run.cfg)}
    meta["tasks"] = list(run.cfg.eval.tasks)
    write_results(run.run_dir / sweep.RESULTS, meta, [{**record, "seed": run.seed}])


def test_aggregate_gives_mean_and_an_interval_with_test_noise(tmp_path):
    axes, seeds = sweep.parse_grid(["train.steps=4", "seeds=0,1,2"])
    runs = sweep.plan(CONFIG, axes, seeds, tmp_path)
    for run, accuracy in zip(runs, [0.5, 0.6, 0.7], strict=True):
        _fake_results(run, accuracy)
    assert all(sweep.is_done(run) for run in runs)
    (row,) = sweep.aggregate(runs)
    errors = stats.accuracy_se([0.5, 0.6, 0.7], 400)
    expected = stats.estimate([0.5, 0.6, 0.7], errors, test=stats.SHARED)  # one test set
    assert row["mean"] == pytest.approx(0.6) and row["interval"] == pytest.approx(expected.interval)
    assert (row["train.steps"], row["model"], row["split"], row["n_seeds"]) == (4, "clip", "id", 3)


def test_results_of_another_config_do_not_count_as_done(tmp_path):
    (run,) = sweep.plan(CONFIG, [], (0,), tmp_path)
    _fake_results(run, 0.5)
    doc = json.loads((run.run_dir / sweep.RESULTS).read_text())
    doc["meta"]["run_key"] = "something-else"
    (run.run_dir / sweep.RESULTS).write_text(json.dumps(doc))
    assert not sweep.is_done(run)


def test_rerun_trains_nothing_and_a_new_seed_trains_only_itself(tiny_overrides, tmp_path):
    fixed = [o for o in tiny_overrides if not o.startswith(("out_dir=", "eval.tasks="))]
    fixed += ["eval.tasks=[zeroshot]", "train.steps=2"]
    out = tmp_path / "sweep"
    first = sweep.run_sweep(CONFIG, ["train.lr=0.001", "seeds=0"], out, fixed, jobs=1)
    assert len(first["trained"]) == 1 and {r["split"] for r in first["rows"]} >= {"id", "sketch"}
    again = sweep.run_sweep(CONFIG, ["train.lr=0.001", "seeds=0"], out, fixed, jobs=1)
    assert again["trained"] == [] and again["rows"] == first["rows"]
    more = sweep.run_sweep(CONFIG, ["train.lr=0.001", "seeds=0,1"], out, fixed, jobs=1)
    assert len(more["trained"]) == 1 and len(more["runs"]) == 2
    assert json.loads((out / "sweep.json").read_text())["seeds"] == [0, 1]
    page = write_sweep_report(more, out)
    assert_reads_well(page, ["mmcl sweep", "Training curves", "What the splits look like"])
    assert "<td>2 (2 distinct config hashes); " in page.read_text()


def test_cli_reports_a_bad_axis_in_one_line(capsys):
    assert main(["sweep", str(CONFIG), "train.steps"]) == 2
    assert "write key=v1,v2" in capsys.readouterr().err


def test_report_has_the_table_and_one_plot_per_swept_key(tmp_path):
    axes, seeds = sweep.parse_grid(["train.steps=4,8", "train.lr=0.001,0.002", "seeds=0,1"])
    runs = sweep.plan(CONFIG, axes, seeds, tmp_path)
    for k, run in enumerate(runs):
        _fake_results(run, 0.4 + 0.05 * k)
    result = {"config": "c.yaml", "axes": {a.key: list(a.values) for a in axes}, "seeds": [0, 1]}
    listed = [{"run_dir": str(run.run_dir)} for run in runs]
    path = write_sweep_report({**result, "runs": listed, "rows": sweep.aggregate(runs)}, tmp_path)
    page = path.read_text()
    header, runs_table, body = page.split("</table>", 2)
    assert "<th>what ran</th><td>mmcl sweep of c.yaml over train.steps" in header
    assert all(f"<code>{sweep.config_hash(run.cfg)}</code>" in runs_table for run in runs)
    assert page.count("<img alt='accuracy against") == 2 and body.count("<tr>") == 1 + 4
    assert_reads_well(path, ["mmcl sweep"])
    assert sorted(p.name for p in tmp_path.glob("sweep_*.png")) == [
        "sweep_train_lr.png",
        "sweep_train_steps.png",
    ]
