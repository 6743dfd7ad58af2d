from __future__ import annotations

import json
import math
import os

import pytest

from mmcl.errors import MMCLError
from mmcl.eval import attributes, knn, linear_probe, mmvp, retrieval, tasks, zeroshot
from mmcl.eval.tasks import EVAL_TASKS, make_record, read_results, write_results


def test_registry_maps_names_to_evaluate_functions():
    expected = {
        "zeroshot": zeroshot.evaluate,
        "linear_probe": linear_probe.evaluate,
        "knn": knn.evaluate,
        "retrieval": retrieval.evaluate,
        "attributes": attributes.evaluate,
        "mmvp": mmvp.evaluate,
    }
    assert EVAL_TASKS.names() == sorted(expected)
    for name, function in expected.items():
        assert EVAL_TASKS.get(name) is function
    with pytest.raises(KeyError, match="did you mean 'knn'"):
        EVAL_TASKS.get("kmn")


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
