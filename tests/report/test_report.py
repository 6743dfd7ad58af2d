from __future__ import annotations

import base64
import json
import math
import random
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from mmcl.errors import MMCLError
from mmcl.eval.tasks import make_record, write_results
from mmcl.report import html as report_html
from mmcl.report.attributes import attribute_chart, attribute_probes
from mmcl.report.html import (
    ReportConfig,
    drop_interval,
    report_runs,
    summary_sentences,
    write_report,
)
from mmcl.report.plots import (
    PNG_MAGIC,
    accuracy_bar_chart,
    chart_series,
    png_data_uri,
    sample_counts,
)
from mmcl.report.tables import format_html, format_text, shift_table

from ..browser import assert_reads_well

SHIFTS = ["spurious_reversed", "sketch", "unseen_colors"]
SPLITS = ["id", *SHIFTS]


def _acc(model, task, split, value, **extra):
    return make_record(model, task, "shapes", split, 100, "accuracy", value, **extra)


def _world(seed: int = 0) -> list[dict]:
    """A CLIP with zero-shot + probe + attributes, a supervised model with its own head."""
    rng = random.Random(seed)
    records = []
    for model, head in (("clip", "zeroshot"), ("supervised", "classifier")):
        for split in SPLITS:
            records.append(_acc(model, head, split, rng.random()))
            records.append(_acc(model, "linear_probe", split, rng.random()))
            records.append(make_record(model, "retrieval", "shapes", split, 100, "R@1", 0.3))
        records.append(
            make_record(model, "attributes", "shapes", "id", 100, "color/accuracy", rng.random())
        )
        records.append(
            make_record(
                model, "attributes", "shapes", "id", 100, "accuracy", rng.random(), attribute="size"
            )
        )
        records.append(make_record(model, "attributes", "shapes", "id", 100, "color/n_values", 7))
    return records


def _value(records, model, task, split, metric="accuracy"):
    (hit,) = [
        r["value"]
        for r in records
        if (r["model"], r["task"], r["split"], r["metric"]) == (model, task, split, metric)
    ]
    return hit


def _cell(table, model, column):
    return table.column(column)[table.rows.index(model)]


def test_table_cells_equal_the_records_and_drops_are_computed_from_them():
    records = _world(1)
    table = shift_table(records)
    assert table.rows == ["clip", "supervised"]
    assert table.column("headline") == ["zeroshot", "classifier"]
    for model, head in (("clip", "zeroshot"), ("supervised", "classifier")):
        for split in SPLITS:
            expected = 100 * _value(records, model, head, split)
            assert _cell(table, model, split) == pytest.approx(expected)
            probe = 100 * _value(records, model, "linear_probe", split)
            assert _cell(table, model, f"probe {split}") == pytest.approx(probe)
        for shift in SHIFTS:
            drop = _value(records, model, head, "id") - _value(records, model, head, shift)
            assert _cell(table, model, f"drop {shift}") == pytest.approx(100 * drop)
        color = _value(records, model, "attributes", "id", "color/accuracy")
        assert _cell(table, model, "attr color") == pytest.approx(100 * color)
        (size,) = [r["value"] for r in records if r["model"] == model and r.get("attribute")]
        assert _cell(table, model, "attr size") == pytest.approx(100 * size)
    assert not any("R@1" in c.name or "n_values" in c.name for c in table.columns)
    json.dumps(asdict(table))  # the CLI prints it as JSON


def test_headline_task_comes_from_the_priority_list_or_a_record_flag():
    records = _world(2)
    records += [_acc("clip", "classifier", s, 0.5) for s in SPLITS]
    assert shift_table(records).column("headline") == ["zeroshot", "classifier"]
    flipped = shift_table(records, headline_tasks=("classifier", "zeroshot"))
    assert flipped.column("headline") == ["classifier", "classifier"]
    assert _cell(flipped, "clip", "id") == pytest.approx(50.0)
    marked = [r | {"headline": True} if r["task"] == "linear_probe" else r for r in records]
    assert shift_table(marked).column("headline") == ["linear_probe", "linear_probe"]


def test_missing_split_shows_dash_and_does_not_crash(tmp_path):
    records = [r for r in _world(3) if not (r["model"] == "clip" and r["split"] == "sketch")]
    table = shift_table(records)
    assert _cell(table, "clip", "sketch") is None
    assert _cell(table, "clip", "drop sketch") is None
    assert _cell(table, "supervised", "drop sketch") is not None
    text = format_text(table)
    clip_line = next(line for line in text.splitlines() if line.startswith("clip"))
    header = text.splitlines()[0].split()
    assert clip_line.split()[header.index("sketch")] == "-"
    assert "<td class='accuracy'>-</td>" in format_html(table)
    accuracy_bar_chart(records, tmp_path / "chart.png")
    write_report(tmp_path, {"meta": {}, "records": records})


def test_text_table_shows_percent_with_one_decimal():
    records = [_acc("m", "zeroshot", "id", 0.8764), _acc("m", "zeroshot", "sketch", 0.5)]
    lines = format_text(shift_table(records)).splitlines()
    assert lines[-1].split() == ["m", "zeroshot", "87.6", "50.0", "37.6"]
    widths = {len(line) for line in lines[:2]}
    assert len(widths) == 1  # header and rule line up


def test_png_is_valid_and_data_uri_round_trips(tmp_path):
    path = accuracy_bar_chart(_world(4), tmp_path / "acc.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    uri = png_data_uri(path)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data


def test_chart_bars_follow_the_table():
    records = _world(5)
    splits, bars = chart_series(shift_table(records))
    assert splits == SPLITS
    assert [(b.model, b.task, b.probe) for b in bars] == [
        ("clip", "zeroshot", False),
        ("clip", "linear_probe", True),
        ("supervised", "classifier", False),
        ("supervised", "linear_probe", True),
    ]
    assert bars[2].values[1] == pytest.approx(
        100 * _value(records, "supervised", "classifier", "spurious_reversed")
    )
    _, no_probe = chart_series(shift_table(records), include_probe=False)
    assert not any(b.probe for b in no_probe)
    assert all(math.isnan(e) for b in bars for e in b.errors)  # no sample counts: no interval


def test_chart_bars_carry_the_binomial_interval_of_their_sample_count():
    records = _world(5)  # 100 test samples per record
    _, bars = chart_series(shift_table(records), samples=sample_counts(records))
    for bar in bars:
        for value, error in zip(bar.values, bar.errors, strict=True):
            p = value / 100
            assert error == pytest.approx(100 * 1.959964 * math.sqrt(p * (1 - p) / 100))


def test_failed_png_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(self, handle, **kwargs):
        handle.write(PNG_MAGIC + b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        accuracy_bar_chart(_world(6), tmp_path / "acc.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_report_keeps_the_previous_page(tmp_path, monkeypatch):
    report = tmp_path / "report.html"
    report.write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_html, "render_report", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        write_report(tmp_path, {"meta": {}, "records": _world(7)})
    assert report.read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_report_html_holds_header_image_and_sections(tmp_path):
    records = _world(8)
    meta = {"run": "r1", "config_hash": "abc123", "seed": 17, "method": "clip", "steps": 40}
    write_results(tmp_path / "results.json", meta | {"machine": "Linux test box"}, records)
    rows = [{"step": 10, "loss": 1.0, "train_s": 61.5}, {"step": 20, "loss": 0.5, "train_s": 75}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = {"meta": meta | {"machine": "Linux test box"}, "records": records}
    path = write_report(tmp_path, results, title="My <run>", sections=["<section>extra</section>"])
    page = path.read_text()
    assert path == tmp_path / "report.html"
    assert "My &lt;run&gt;" in page
    assert "<td>clip run r1, 40 steps</td>" in page and "<td>Linux test box</td>" in page
    assert "<td>17</td>" in page  # the seeds row
    assert "<code>abc123</code>" in page and "<td>1 min 15 s</td>" in page  # the run's line
    assert format_html(shift_table(records)) in page
    uri = re.findall(r"src='(data:image/png;base64,[^']+)'", page)[0]
    assert base64.b64decode(uri.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "<section>extra</section>\n<h2>Training curves</h2>" in page  # its metrics follow
    assert page.rstrip().endswith("</body></html>")
    assert "<link" not in page and "src='http" not in page  # self-contained


def test_a_run_report_draws_the_training_curves_and_fits_a_1280_px_window(tmp_path):
    rows = [{"step": s, "lr": 1e-3, "loss": 2.0 / s, "logit_scale": 10.0 + s, "samples_per_s": 900}
            for s in range(10, 110, 10)]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = write_report(tmp_path, {"meta": {}, "records": _world(3)}, title="wide run")
    page = path.read_text()
    assert "<h2>Training curves</h2>" in page and page.count("data:image/png;base64,") == 4
    assert "<div class='scroll'><table class='mmcl-shift'>" in page  # scrolls in its own box
    assert_reads_well(path, ["Accuracy under shift", "The id-shift plane", "What this shows",
                             "Which features each model keeps", "Training curves"],
                      tables_whole=True)  # fmt: skip


def _two_models(a_sketch: float, b_sketch: float) -> list[dict]:
    return [
        _acc("alpha", "zeroshot", "id", 0.90),
        _acc("alpha", "zeroshot", "sketch", a_sketch),
        _acc("beta", "classifier", "id", 0.80),
        _acc("beta", "classifier", "sketch", b_sketch),
    ]


def test_summary_gives_each_drop_its_interval_and_names_no_winner(tmp_path):
    """One run per model measures test-sample noise only: drops with intervals, no ranking."""
    records = _two_models(0.85, 0.50)  # alpha drops 5 points, beta 30, on 100 samples each
    (sentence, caveat) = summary_sentences(records, shift_table(records))
    alpha = drop_interval((0.90, 100), (0.85, 100))
    beta = drop_interval((0.80, 100), (0.50, 100))
    assert alpha[1] < 5.0 < alpha[2] and beta[1] < 30.0 < beta[2]
    assert f"alpha drops 5.0 points [{alpha[1]:.1f}, {alpha[2]:.1f}]" in sentence
    assert f"beta drops 30.0 points [{beta[1]:.1f}, {beta[2]:.1f}]" in sentence
    assert "no model is named more robust" in caveat
    page = write_report(tmp_path, {"meta": {}, "records": records}).read_text()
    assert "least" not in page and "most" not in page.split("What this shows")[1]


def test_drop_interval_is_the_binomial_one_and_a_gain_reads_as_a_gain():
    drop, low, high = drop_interval((0.5, 400), (0.5, 400))
    half = 1.959964 * 100 * (2 * 0.25 / 400) ** 0.5
    assert drop == 0 and low == pytest.approx(-half) and high == pytest.approx(half)
    assert drop_interval((0.5, None), (0.4, 100)) is None
    records = _two_models(0.95, 0.85)  # both gain 5 points
    (sentence, _) = summary_sentences(records, shift_table(records))
    assert "alpha gains 5.0 points [" in sentence and "beta gains 5.0 points [" in sentence


def test_report_runs_merges_runs_and_keeps_same_named_models_apart(tmp_path):
    run_a, run_b = tmp_path / "seed0", tmp_path / "seed1"
    write_results(run_a / "results.json", {"seed": 0}, _two_models(0.85, 0.50))
    write_results(
        run_b / "results.json",
        {"seed": 1},
        [_acc("gamma", "zeroshot", "id", 0.7)]
        + [_acc("alpha", "zeroshot", s, v) for s, v in (("id", 0.6), ("sketch", 0.1))],
    )
    out = report_runs([run_a, run_b], tmp_path / "out" / "report.html")
    page = out.read_text()
    for row in ("alpha [seed0]", "alpha [seed1]", "beta", "gamma"):
        assert f"<th class='model'>{row}</th>" in page
    assert "<td>0, 1</td>" in page  # both seeds in the meta block
    assert (tmp_path / "out" / "report_accuracy.png").read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(MMCLError, match="results"):
        report_runs([tmp_path / "nowhere"], tmp_path / "x.html")
    with pytest.raises(MMCLError, match="at least one run"):
        report_runs([], tmp_path / "x.html")


def test_conflicting_duplicate_records_are_an_error():
    records = [_acc("m", "zeroshot", "id", 0.5), _acc("m", "zeroshot", "id", 0.6)]
    with pytest.raises(MMCLError, match="distinct model names"):
        shift_table(records)


def test_other_id_split_name_is_honoured(tmp_path):
    records = [_acc("m", "zeroshot", "val", 0.9), _acc("m", "zeroshot", "sketch", 0.6)]
    table = shift_table(records, id_split="val")
    assert _cell(table, "m", "drop sketch") == pytest.approx(30.0)
    page = write_report(tmp_path, {"meta": {}, "records": records}, config=ReportConfig("val"))
    assert "From val to sketch" in Path(page).read_text()


def test_attribute_probes_are_read_with_their_chance_and_sample_count():
    records = _world(2)
    records.append(
        make_record("clip", "attributes", "shapes", "id", 100, "color/uniform_chance", 0.125)
    )
    probes = attribute_probes(records)
    assert set(probes) == {"clip", "supervised"}
    assert set(probes["clip"]) == {"color (id)", "size (id)"}
    color = probes["clip"]["color (id)"]
    assert color.chance == 0.125 and color.n_samples == 100
    assert color.accuracy == _value(records, "clip", "attributes", "id", "color/accuracy")
    assert probes["supervised"]["color (id)"].chance is None  # no chance record for it
    assert isinstance(attribute_chart(records), Figure)
    assert attribute_chart(_two_models(0.5, 0.5)) is None  # nothing to draw
