"""Results that flow: mmcl -> CLIP_benchmark files -> `mmcl robustness`, and `mmcl testbed
--csv` as a baseline table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import special

from mmcl.cli import main
from mmcl.cli.testbed import baseline_table_csv
from mmcl.eval.clip_benchmark import from_clip_benchmark, to_clip_benchmark
from mmcl.eval.robustness_inputs import read_csv_table, read_results_json
from mmcl.eval.tasks import make_record, read_results, write_results
from mmcl.experiments.fang2022.runs import SHIFTS


def _records(model: str, accuracy: dict[str, float]) -> list[dict]:
    records = []
    for split, value in accuracy.items():
        records += [
            make_record(model, "zeroshot", "imagenet", split, 500, "accuracy", value),
            make_record(model, "zeroshot", "imagenet", split, 500, "top5_accuracy", value + 0.1),
            make_record(model, "zeroshot", "imagenet", split, 500, "mean_per_class_accuracy",
                        value - 0.01),
            make_record(model, "retrieval", "coco", split, 500, "text_to_image_R@5", 0.4),
            make_record(model, "attributes", "shapes", split, 500, "accuracy", 0.9,
                        attribute="color"),
        ]  # fmt: skip
    return records


def test_export_writes_clip_benchmark_names_and_robustness_reads_them_back(tmp_path, capsys):
    accuracy = {"imagenet": 0.6, "imagenet_v2": 0.5}
    write_results(tmp_path / "results.json", {"model": "ViT-B-32", "pretrained": "mine"},
                  _records("m", accuracy))  # fmt: skip
    assert main(["results", "export", str(tmp_path / "results.json"), "--out",
                 str(tmp_path / "cb")]) == 0  # fmt: skip
    files = sorted((tmp_path / "cb").glob("*.json"))
    docs = [json.loads(p.read_text()) for p in files]
    classification = {d["dataset"]: d for d in docs if d["task"] == "zeroshot_classification"}
    assert classification["imagenet1k"]["metrics"] == pytest.approx(
        {"acc1": 0.6, "acc5": 0.7, "mean_per_class_recall": 0.59}
    )
    assert classification["imagenet1k"]["model"] == "ViT-B-32"
    retrieval = [d for d in docs if d["task"] == "zeroshot_retrieval"]
    assert retrieval and retrieval[0]["metrics"] == {"image_retrieval_recall@5": 0.4}
    assert "imagenet1k_mine_ViT-B-32_en_zeroshot_classification.json" in {p.name for p in files}
    table = read_results_json([tmp_path / "cb" / p.name for p in files])
    row = next(r for r in table.rows if r["task"] == "zeroshot")
    assert row["model"] == "ViT-B-32/mine"
    # exported under CLIP_benchmark's dataset names, read back under them
    assert float(row["imagenet1k"]) == 0.6 and float(row["imagenetv2"]) == 0.5
    back = from_clip_benchmark(classification["imagenet1k"], "x.json")
    assert {r["metric"] for r in back} == {"accuracy", "top5_accuracy", "mean_per_class_accuracy"}


def test_export_of_results_without_exportable_records_says_so(tmp_path, capsys):
    records = [make_record("m", "attributes", "shapes", "id", 10, "accuracy", 0.5, attribute="x")]
    write_results(tmp_path / "results.json", {}, records)
    assert main(["results", "export", str(tmp_path / "results.json")]) == 2
    assert "no zero-shot, linear-probe or retrieval records" in capsys.readouterr().err
    assert to_clip_benchmark(records, {}) == []


def test_baseline_table_csv_is_a_baseline_table_robustness_reads(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ids = rng.uniform(0.4, 0.9, 8)
    models = [{"model": f"t{k}", "id_acc_pct": 100 * x,
               "ood_acc_pct": {s: 100 * special.expit(special.logit(x) - 1 - 0.2 * j)
                               for j, s in enumerate(SHIFTS)}}
              for k, x in enumerate(ids)]  # fmt: skip
    (tmp_path / "testbed.csv").write_text(baseline_table_csv({"models": models}))
    table = read_csv_table(tmp_path / "testbed.csv")
    assert table.columns == ["model", "id", *SHIFTS, "baseline_candidate"]
    assert len(table.rows) == 8 and all(r["baseline_candidate"] == "1" for r in table.rows)
    ours = [make_record("mine", "zeroshot", "shapes", s, 200, "accuracy", v)
            for s, v in (("id", 0.7), *((s, 0.5) for s in SHIFTS))]  # fmt: skip
    write_results(tmp_path / "results.json", {}, ours)
    assert main(["robustness", str(tmp_path / "results.json"), "--id", "id", "--ood",
                 ",".join(SHIFTS), "--baseline-table", str(tmp_path / "testbed.csv"),
                 "--bootstrap", "0", "--json"]) == 0  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert doc["fits"][SHIFTS[0]]["n"] == 8 and [m["model"] for m in doc["models"]] == ["mine"]
    assert read_results(tmp_path / "results.json")["records"] == ours
