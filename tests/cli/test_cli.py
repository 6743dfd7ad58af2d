"""The mmcl command end to end on a tiny world: train, eval, report, data inspect, errors."""

from __future__ import annotations

import json

import pytest

from mmcl.cli import main
from mmcl.eval.tasks import read_results


def _train(tmp_path, overrides, *extra):
    config = tmp_path / "c.yaml"
    config.write_text("name: tiny\n")
    return main(["train", str(config), *overrides, *extra])


@pytest.mark.parametrize("method", ["clip", "supervised", "simclr"])
def test_train_writes_a_complete_run_folder(tmp_path, tiny_overrides, method):
    assert _train(tmp_path, [*tiny_overrides, f"method.name={method}"]) == 0
    run = tmp_path / "runs" / "tiny"
    for name in ("config.yaml", "metrics.jsonl", "results.json", "report.html"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000006.pt"
    tasks = {r["task"] for r in read_results(run / "results.json")["records"]}
    assert {r["checkpoint"] for r in read_results(run / "results.json")["records"]} == {
        "step_0000006.pt"
    }  # every record names the weights it scored
    expected = {"clip": "zeroshot", "supervised": "classifier", "simclr": "linear_probe"}[method]
    assert expected in tasks
    assert "zeroshot" not in tasks or method == "clip"  # only CLIP has a text tower


def test_eval_rescores_a_run_with_other_tasks(tmp_path, tiny_overrides, capsys):
    assert _train(tmp_path, tiny_overrides, "--no-eval") == 0
    run = tmp_path / "runs" / "tiny"
    assert not (run / "results.json").exists()
    assert main(["eval", str(run), "--tasks", "knn,retrieval", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {r["task"] for r in printed["records"]} == {"knn", "retrieval"}
    assert read_results(run / "results.json")["records"] == printed["records"]


def test_typo_in_override_is_one_clear_line(tmp_path, tiny_overrides, capsys):
    assert _train(tmp_path, [*tiny_overrides, "train.stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "train.stepz" in err and "train.steps" in err and "Traceback" not in err


def test_eval_of_a_folder_without_checkpoint_names_it(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_data_inspect_writes_a_png(tmp_path, world_cache):
    out = tmp_path / "grid.png"
    args = ["data", "inspect", "shapes", "shapes.n_train=64", f"cache_dir={world_cache}"]
    assert main([*args, "--n", "8", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_attribute_probes_use_the_independent_split(tmp_path, tiny_overrides):
    overrides = [*tiny_overrides, "method.name=supervised", "eval.tasks=[attributes]"]
    assert _train(tmp_path, overrides) == 0
    records = read_results(tmp_path / "runs" / "tiny" / "results.json")["records"]
    probed = {r["attribute"] for r in records if r["metric"] == "accuracy"}
    assert {"shape", "background", "color"} <= probed
    assert {r["split"] for r in records} == {"balanced"}


def test_overrides_may_follow_options(tmp_path, tiny_overrides):
    config = tmp_path / "c.yaml"
    config.write_text("name: tiny\n")
    assert main(["train", str(config), "--no-eval", *tiny_overrides, "train.steps=3"]) == 0
    run = tmp_path / "runs" / "tiny"
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000003.pt"
    assert not (run / "results.json").exists()


def test_unknown_option_is_still_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(tmp_path / "c.yaml"), "--no-evil", "train.steps=3"])
    assert exit_.value.code == 2
    assert "--no-evil" in capsys.readouterr().err
