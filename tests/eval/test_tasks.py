from __future__ import annotations

import json
import math
import os

import pytest
import torch

from mmcl.config import load_config
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError
from mmcl.eval import tasks
from mmcl.eval.config import eval_task_names
from mmcl.eval.context import eval_task
from mmcl.eval.suite import EVAL_TASKS, EvalData, periodic_tasks, scorable_tasks, task_needs
from mmcl.eval.tasks import make_record, read_results, write_results
from mmcl.train.config import RunConfig


def test_every_task_registers_itself_and_declares_what_it_needs():
    needs = {  # task -> (needs a text tower, needs a class head, data needs, periodic)
        "zeroshot": (True, False, {"labels"}, True),
        "classifier": (False, True, {"labels"}, True),
        "linear_probe": (False, False, {"fit_split"}, False),
        "knn": (False, False, {"fit_split"}, False),
        "retrieval": (True, False, {"captions"}, False),
        "attributes": (False, False, {"attributes"}, False),
        "mmvp": (True, False, {"mmvp_pairs"}, False),
    }
    assert EVAL_TASKS.names() == sorted(needs) == eval_task_names()
    for name, (text, head, data, periodic) in needs.items():
        task = EVAL_TASKS.get(name)
        assert (task.needs_text, task.needs_classifier) == (text, head)
        assert (task.needs, task.periodic) == (data, periodic)
    assert periodic_tasks() == ["classifier", "zeroshot"]
    assert task_needs(["zeroshot", "attributes", "knn"]) == {"labels", "attributes", "fit_split"}
    with pytest.raises(KeyError, match="did you mean 'knn'"):
        EVAL_TASKS.get("kmn")
    with pytest.raises(MMCLError, match="eval.tasks.*knn"):
        load_config(RunConfig, None, ["eval.tasks=[kmn]"])


def _split(name: str, labels: list[int], captions: list[str], attributes: bool) -> WorldSplit:
    n = len(labels)
    return WorldSplit(
        name=name,
        images=torch.zeros(n, 3, 4, 4, dtype=torch.uint8),
        labels=torch.tensor(labels),
        attributes={"color": torch.zeros(n, dtype=torch.long)} if attributes else {},
        attribute_values={},
        captions=captions,
        class_names=["a", "b"] if max(labels) >= 0 else [],
        prompt_templates=["a {}."],
    )


def test_real_data_scores_only_the_tasks_whose_data_needs_it_meets():
    """What `mmcl eval` on files leaves out: the registry says what each task needs."""
    asked = ["zeroshot", "classifier", "linear_probe", "knn", "retrieval", "attributes", "mmvp"]
    val = _split("val", [0, 1], ["a cat", "a dog"], attributes=False)
    train = _split("train", [1, 0], ["", ""], attributes=False)
    full = EvalData("files", train, {"val": val})
    assert full.provides() == {"labels", "fit_split", "captions"}
    assert scorable_tasks(asked, full) == ["zeroshot", "classifier", "linear_probe", "knn",
                                           "retrieval"]  # fmt: skip
    alone = EvalData("files", val, {"val": val})  # no split apart from the scored one to fit on
    assert scorable_tasks(asked, alone) == ["zeroshot", "classifier", "retrieval"]
    unlabelled = _split("val", [-1, -1], [" ", ""], attributes=True)
    blind = EvalData("files", _split("train", [-1, -1], ["", ""], False), {"val": unlabelled})
    assert blind.provides() == {"attributes"}
    assert scorable_tasks(asked, blind) == ["attributes"]


def test_a_task_names_only_known_data_needs():
    with pytest.raises(ValueError, match=r"unknown data needs \['labelz'\]"):
        eval_task("needs_a_typo", needs=("labelz",))


def test_make_record_is_flat_and_rejects_bad_values():
    record = make_record("clip-tiny", "knn", "shapes", "test", 500, "accuracy", 0.5, seed=3)
    assert record == {
        "model": "clip-tiny",
        "task": "knn",
        "dataset": "shapes",
        "split": "test",
        "n_samples": 500,
        "metric": "accuracy",
        "value": 0.5,
        "seed": 3,
    }
    with pytest.raises(MMCLError, match="accuracy"):
        make_record("m", "knn", "shapes", "test", 5, "accuracy", math.nan)
    with pytest.raises(MMCLError, match="overwrite"):
        make_record("m", "knn", "shapes", "test", 5, "accuracy", 0.1, model="other")


def test_round_trip(tmp_path):
    path = tmp_path / "run" / "results.json"
    records = [make_record("m", "zeroshot", "shapes", "sketch", 10, "accuracy", 0.25)]
    write_results(path, {"seed": 0, "version": "0.1.0"}, records)
    assert read_results(path) == {"meta": {"seed": 0, "version": "0.1.0"}, "records": records}


def test_failed_write_leaves_old_file_and_no_partial(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_results(path, {"n": 1}, [])
    before = path.read_text()
    with pytest.raises(TypeError):
        write_results(path, {"bad": object()}, [])  # fails halfway through json.dump
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_results(path, {"n": 2}, [])
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"records": []}), "exactly the keys"),
        (json.dumps({"meta": {}, "records": {}}), '"records" must be a list'),
        (json.dumps({"meta": {}, "records": [{"model": "m"}]}), "record 0 lacks"),
        (
            json.dumps({"meta": {}, "records": [{k: "x" for k in tasks.RECORD_KEYS}]}),
            "non-numeric value",
        ),
    ],
)
def test_malformed_files_name_the_path(tmp_path, content, problem):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(MMCLError, match=problem) as info:
        read_results(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(MMCLError) as info:
        read_results(tmp_path / "nope.json")
    assert str(tmp_path / "nope.json") in str(info.value)
