"""`mmcl robustness` inputs: nothing left out silently, aliases, CLIP_benchmark's build CSV."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from mmcl.cli.robustness import register
from mmcl.errors import MMCLError
from mmcl.eval.robustness_inputs import (
    InputConfig,
    load_inputs,
    read_results_json,
    read_table,
)
from mmcl.eval.robustness_records import parse_aliases
from mmcl.eval.tasks import make_record, write_results

ID_FIX = "map with --alias wds/shapes_id=id"


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mmcl")
    register(parser.add_subparsers())
    args = parser.parse_args(["robustness", *argv])
    return args.func(args)


def _baseline_runs(root: Path, n: int = 5) -> list[Path]:
    """mmcl results.json files of `n` classifier runs on a logit line, with attribute probes."""
    rng = np.random.default_rng(3)
    paths = []
    for k in range(n):
        x = rng.uniform(0.5, 0.9)
        y = special.expit(special.logit(x) - 1.0 + rng.normal(0, 0.05))
        records = [make_record("sup", "classifier", "shapes", s, 200, "accuracy", v)
                   for s, v in (("id", x), ("sketch", y))]  # fmt: skip
        records.append(make_record("sup", "attributes", "shapes", "id", 200, "accuracy", 0.4,
                                   attribute="color"))  # fmt: skip
        write_results(root / f"sup{k}" / "results.json", {"run": f"sup{k}"}, records)
        paths.append(root / f"sup{k}" / "results.json")
    return paths


def _cb(folder: Path, dataset: str, task: str, metrics: dict, model: str = "ViT-B-32",
        pretrained: str = "mine") -> Path:  # fmt: skip
    """One CLIP_benchmark output, named as its `--output` template names them."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"dataset": dataset, "model": model, "pretrained": pretrained, "task": task,
           "metrics": metrics, "language": "en"}  # fmt: skip
    path = folder / f"{dataset.replace('/', '_')}_{pretrained}_{model}_en_{task}.json"
    path.write_text(json.dumps(doc))
    return path


def _cb_outputs(folder: Path) -> list[Path]:
    """Two models' zero-shot and linear-probe outputs on wds/ names, a retrieval output, a
    multilabel output without acc1 and one whose acc1 is NaN."""
    paths = []
    for model, pretrained, x in (("ViT-B-32", "mine", 0.7), ("RN50", "other", 0.6)):
        for task, shift in (("zeroshot_classification", 0.0), ("linear_probe", 0.05)):
            for dataset, acc in (("wds/shapes_id", x + shift), ("wds/shapes_sketch", x - 0.2)):
                metrics = {"acc1": acc, "acc5": min(1.0, acc + 0.2), "mean_per_class_recall": acc}
                paths.append(_cb(folder, dataset, task, metrics, model, pretrained))
    retrieval = {"image_retrieval_recall@5": 0.4, "text_retrieval_recall@5": 0.5}
    paths.append(_cb(folder, "wds/mscoco_captions", "zeroshot_retrieval", retrieval))
    paths.append(_cb(folder, "voc2007_multilabel", "zeroshot_classification",
                     {"mean_average_precision": 0.8}))  # fmt: skip
    paths.append(_cb(folder, "wds/shapes_id", "zeroshot_classification",
                     {"acc1": math.nan, "acc5": 0.9}, "ViT-L-14", "nan"))  # fmt: skip
    return paths


def _build_csv(paths: list[Path], out: Path) -> Path:
    """What `clip_benchmark build` writes (its cli.py `main_build`): per JSON output the metrics,
    then the output's own keys, then model_fullname; columns in a set's order (here reversed)."""
    rows, fields = [], set()
    for path in paths:
        data = json.loads(path.read_text())
        row = {**data["metrics"], **data}
        del row["metrics"]
        row["model_fullname"] = row["model"] + " " + row["pretrained"]
        fields |= set(row)
        rows.append(row)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted(fields, reverse=True))
        writer.writeheader()
        writer.writerows(rows)
    return out


def _argv(paths: list[Path], *extra: str) -> list[str]:
    return [*map(str, paths), "--id", "id", "--ood", "sketch", "--baseline-where",
            "task=classifier", "--bootstrap", "0", "--json", *extra]  # fmt: skip


def test_clip_benchmark_names_that_differ_are_reported_with_the_fix(tmp_path, capsys):
    paths = _baseline_runs(tmp_path) + _cb_outputs(tmp_path / "cb")
    assert run_cli(_argv(paths)) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert {m["model"] for m in doc["models"]} == {f"sup [sup{k}]/classifier" for k in range(5)}
    lines = [s for s in captured.err.splitlines() if s.startswith("skipped: ")]
    for model in ("ViT-B-32/mine/zeroshot", "ViT-B-32/mine/linear_probe", "RN50/other/zeroshot"):
        line = next(s for s in lines if f"model {model!r}" in s)
        assert "no accuracy on the ID split 'id'" in line and ID_FIX in line
        assert "its datasets: wds/shapes_id, wds/shapes_sketch" in line
    reasons = {s["reason"] for s in doc["skipped"]}
    assert len(doc["skipped"]) == len(lines) and any(ID_FIX in r for r in reasons)
    assert any("zeroshot_retrieval result" in s and "mscoco" in s for s in lines)
    assert any("no acc1 among its metrics (mean_average_precision)" in s for s in lines)
    assert any("acc1 is nan, not a finite accuracy" in s for s in lines)
    probes = [s for s in lines if "task 'attributes'" in s]
    assert len(probes) == 1 and "and 2 more" in probes[0]  # 5 runs' probes merged into one line


def test_alias_maps_clip_benchmark_datasets_to_rows(tmp_path, capsys):
    paths = _baseline_runs(tmp_path) + _cb_outputs(tmp_path / "cb")
    argv = _argv(paths, "--alias", "wds/shapes_id=id", "--alias", "wds/shapes_sketch=sketch")
    assert run_cli(argv) == 0
    captured = capsys.readouterr()
    models = {m["model"]: m for m in json.loads(captured.out)["models"]}
    mine = models["ViT-B-32/mine/zeroshot"]
    assert mine["id_acc_pct"] == pytest.approx(70.0)
    assert mine["ood_acc_pct"] == {"sketch": pytest.approx(50.0)}
    assert "sketch" in mine["targets"] and "_en_zeroshot_classification.json" in mine["source"]
    assert models["RN50/other/linear_probe"]["id_acc_pct"] == pytest.approx(65.0)
    assert "no accuracy on the ID split" not in captured.err


def test_build_csv_gives_the_rows_of_its_json_files(tmp_path):
    outputs = _cb_outputs(tmp_path / "cb")
    table_csv = _build_csv(outputs, tmp_path / "benchmark.csv")
    flags = ["wds/shapes_id=id,wds/shapes_sketch=sketch"]
    from_json = read_results_json(outputs, parse_aliases(flags, None))
    from_csv = read_table(table_csv, aliases=parse_aliases(flags, None))
    assert len(from_json.rows) == 4
    assert from_csv.rows == from_json.rows
    assert from_csv.columns == from_json.columns == ["model", "task", "id", "sketch"]
    assert from_csv.unit == "fraction"
    json_reasons = sorted((s.what, s.reason) for s in from_json.skipped)
    assert sorted((s.what, s.reason) for s in from_csv.skipped) == json_reasons
    assert len(json_reasons) == 3
    assert all(" line " in s.source for s in from_csv.skipped)  # the CSV row is named

    def points(**inputs):
        cfg = InputConfig("id", ["sketch"], baseline_where="task=linear_probe", aliases=flags,
                          **inputs)  # fmt: skip
        return [(p.label, p.id_acc, p.ood, p.baseline) for p in load_inputs(cfg).points]

    assert points(tables=[str(table_csv)]) == points(results=list(map(str, outputs)))


def test_build_csv_without_alias_names_the_fix(tmp_path):
    table_csv = _build_csv(_cb_outputs(tmp_path / "cb"), tmp_path / "benchmark.csv")
    cfg = InputConfig("id", ["sketch"], tables=[str(table_csv)], baseline_where="task=zeroshot")
    with pytest.raises(MMCLError, match=r"column 'id' not found.*--alias wds/shapes_id=id"):
        load_inputs(cfg)


def test_unused_alias_is_reported_and_all_unused_stops(tmp_path, capsys):
    paths = _baseline_runs(tmp_path) + _cb_outputs(tmp_path / "cb")
    alias = "wds/shapes_id=id,wds/shapes_sketch=sketch,wds/imagenet1k=id"
    assert run_cli(_argv(paths, "--alias", alias)) == 0
    captured = capsys.readouterr()
    notes = [s for s in captured.err.splitlines() if "wds/imagenet1k" in s]
    assert len(notes) == 1 and notes[0].startswith("note: --alias wds/imagenet1k=id matched no")
    assert notes[0][len("note: ") :] in json.loads(captured.out)["notes"]
    with pytest.raises(MMCLError, match=r"--alias: no alias matched.*wds/shapes_ld=id.*shapes_id"):
        run_cli(_argv(paths, "--alias", "wds/shapes_ld=id"))


def test_alias_file_yaml_and_json_and_flags_win(tmp_path):
    (tmp_path / "a.yaml").write_text("wds/shapes_id: id\nwds/shapes_sketch: sketch\n")
    (tmp_path / "a.json").write_text(json.dumps({"wds/shapes_id": "id"}))
    assert parse_aliases([], str(tmp_path / "a.yaml")).names["wds/shapes_sketch"] == "sketch"
    aliases = parse_aliases(["wds/shapes_id=ID"], str(tmp_path / "a.json"))
    assert aliases.names == {"wds/shapes_id": "ID"}
    (tmp_path / "bad.yaml").write_text("- wds/shapes_id\n")
    with pytest.raises(MMCLError, match=r"bad.yaml: --alias-file takes a mapping"):
        parse_aliases([], str(tmp_path / "bad.yaml"))
    (tmp_path / "bomb.yaml").write_text("a: !!python/object:os.system ls\n")
    with pytest.raises(MMCLError, match="uses the YAML tag"):
        parse_aliases([], str(tmp_path / "bomb.yaml"))
    with pytest.raises(MMCLError, match="renamed twice"):
        parse_aliases(["a=b", "a=c"], None)


def test_wide_csv_columns_are_renamed_and_empty_id_rows_reported(tmp_path, capsys):
    rng = np.random.default_rng(0)
    with (tmp_path / "t.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "kind", "top1", "shift"])
        for i in range(6):
            x = rng.uniform(0.4, 0.8)
            w.writerow([f"m{i}", "base" if i < 4 else "new", "" if i == 5 else x, x - 0.1])
    argv = ["--table", str(tmp_path / "t.csv"), "--id", "id", "--ood", "sketch", "--alias",
            "top1=id,shift=sketch", "--baseline-where", "kind=base", "--bootstrap=0"]  # fmt: skip
    assert run_cli(argv) == 0
    err = capsys.readouterr().err
    assert (
        f"skipped: model 'm5' from {tmp_path / 't.csv'} line 7: no accuracy on the ID split 'id' "
        "(its datasets: sketch); a model needs an ID accuracy to be placed\n"
    ) in err
    argv[argv.index("kind=base")] = "name=m5"
    with pytest.raises(MMCLError, match=r"name=m5.*1 matching row\(s\) were left out.*'m5'"):
        run_cli(argv)
    with pytest.raises(MMCLError, match="two columns named 'id'"):
        read_table(tmp_path / "t.csv", aliases=parse_aliases(["top1=id,shift=id"], None))


def test_same_model_twice_is_a_note_and_everything_skipped_is_an_error(tmp_path, capsys):
    paths = _baseline_runs(tmp_path)
    mine = tmp_path / "mine" / "results.json"
    records = [make_record("sup", "classifier", "shapes", s, 9, "accuracy", 0.5)
               for s in ("id", "sketch")]  # fmt: skip
    write_results(mine, {}, records)
    with (tmp_path / "t.csv").open("w", newline="") as f:
        f.write("model,task,id,sketch\nsup [mine],zeroshot,0.6,0.4\n")
    argv = _argv([*paths, mine], "--table", str(tmp_path / "t.csv"))
    assert run_cli(argv) == 0
    notes = [s for s in capsys.readouterr().err.splitlines() if "rows are labelled" in s]
    assert notes == [
        f"note: 2 rows are labelled 'sup [mine]' ({tmp_path / 't.csv'} line 2, {mine}): "
        "shown as 'sup [mine]', 'sup [mine]#2'"
    ]
    retrieval = _cb(tmp_path / "cb", "coco", "zeroshot_retrieval", {"image_retrieval_recall@5": 1})
    with pytest.raises(MMCLError, match=r"all 1 left out; the first: .*zeroshot_retrieval result"):
        run_cli(_argv([retrieval]))


def test_records_that_are_no_accuracy_are_named(tmp_path):
    records = [
        make_record("clip", "retrieval", "coco", "id", 9, "text_to_image_R@5", 0.3),
        {"model": "clip", "task": "zeroshot", "split": "id", "metric": "accuracy", "value": "x"},
    ]
    (tmp_path / "results.json").write_text(json.dumps({"meta": {}, "records": records}))
    (tmp_path / "empty.json").write_text(json.dumps({"meta": {}, "records": []}))
    table = read_results_json([tmp_path / "results.json", tmp_path / "empty.json"] * 2)
    lines = [s.line() for s in table.skipped]
    assert table.rows == []
    where = f"model 'clip' task 'zeroshot' split 'id' from {tmp_path / 'results.json'}"
    assert f"{where}: value 'x' is not a finite accuracy" in lines
    assert any("task 'retrieval'" in s and "its metrics: text_to_image_R@5" in s for s in lines)
    assert f"{tmp_path / 'empty.json'}: the file holds no records" in lines
    assert sum("given twice; read once" in s for s in lines) == 2


def test_out_lists_skipped_inputs_in_json_and_html(tmp_path, capsys):
    paths = _baseline_runs(tmp_path) + _cb_outputs(tmp_path / "cb")
    out = tmp_path / "out"
    argv = [*_argv(paths)[:-1], "--out", str(out), "--alias", "wds/imagenet1k=id,wds/x=sketch"]
    with pytest.raises(MMCLError, match="no alias matched"):
        run_cli(argv)
    assert run_cli([*argv[:-1], "wds/imagenet1k=id,wds/shapes_sketch=sketch"]) == 0
    doc = json.loads((out / "robustness.json").read_text())
    assert doc["skipped"] and set(doc["skipped"][0]) == {"source", "what", "reason"}
    page = (out / "robustness.html").read_text()
    assert f"Left out of the table ({len(doc['skipped'])})" in page
    assert "map with --alias wds/shapes_id=id" in page
    assert "<h3>Notes on the inputs</h3><ul><li>--alias wds/imagenet1k=id matched no" in page


def test_build_csv_in_the_layout_of_clip_benchmarks_published_table(tmp_path):
    """The header of CLIP_benchmark's benchmark/benchmark.csv (built before outputs had a
    `language`): ImageNet names line up with --id imagenet1k; other tasks are named as skips."""
    header = ("acc1,acc5,mean_per_class_recall,dataset,model,pretrained,task,"
              "mean_average_precision,image_retrieval_recall@5,text_retrieval_recall@5,"
              "model_fullname")  # fmt: skip
    model = "ViT-B-32,openai,zeroshot_classification,,,,ViT-B-32 openai"
    lines = [
        f"0.63334,0.88778,0.63284,imagenet1k,{model}",
        f"0.6932,0.8887,0.67858,imagenet-r,{model}",
        ",,,flickr30k,ViT-B-32,openai,zeroshot_retrieval,,0.8338,0.949,ViT-B-32 openai",
    ]
    path = tmp_path / "benchmark.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    table = read_table(path)
    assert table.rows == [
        {"model": "ViT-B-32/openai", "task": "zeroshot", "imagenet1k": "0.63334",
         "imagenet-r": "0.6932"}
    ]  # fmt: skip
    assert [s.line() for s in table.skipped] == [
        f"zeroshot_retrieval of 'ViT-B-32/openai' on 'flickr30k' from {path} line 4: no top-1 "
        "accuracy in a zeroshot_retrieval result; robustness reads the acc1 of "
        "zeroshot_classification and linear_probe"
    ]
    points = load_inputs(InputConfig("imagenet1k", ["imagenet-r"], tables=[str(path)])).points
    mine = [(p.label, p.id_acc, p.ood) for p in points if p.reported]
    assert mine == [("ViT-B-32/openai", 0.63334, {"imagenet-r": 0.6932})]
    assert sum(p.baseline for p in points) == 85  # the shipped testbed's baseline rows
