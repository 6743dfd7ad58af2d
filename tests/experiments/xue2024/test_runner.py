"""xue2024 repro: the image sweep runs through the real trainer, and `run` writes a readable
results.json, claims.json (claims and checks) and a report with its plots."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from mmcl import stats
from mmcl.data.sources import load_split
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.eval.tasks import read_results, unpack_correct
from mmcl.experiments import xue2024
from mmcl.experiments.xue2024 import images as xue_images
from mmcl.experiments.xue2024 import scales
from mmcl.experiments.xue2024.claims import paper_column
from mmcl.experiments.xue2024.image_claims import image_claims

from ...browser import assert_reads_well

SHIFTS = ("spurious_reversed", "sketch", "unseen_colors")
MICRO = [
    "data.shapes.n_train=256",
    "data.shapes.n_test=64",
    "train.steps=4",
    "train.warmup_steps=1",
    "train.batch_size=64",
    "train.checkpoint_every=4",
    "model.width=4",
    "model.text_width=32",
    "model.text_layers=1",
    "model.text_heads=2",
    "model.embed_dim=16",
]


def test_paper_column_states_direction_and_unknown_figure():
    assert "unknown" in paper_column("C4/squared") and "richer" in paper_column("C4/squared")
    assert "supervised" in paper_column("IMG-C1")
    assert "all > class0 > none" in paper_column("C3-order-a/infonce")


def _shift_correct(records: list[dict], learner: str, preset: str) -> np.ndarray:
    """One run's per-sample correctness on `spurious_reversed`, the claims' split."""
    r = next(
        r for r in records
        if (r["learner"], r["preset"], r["split"], r["metric"]) == (learner, preset,
                                                                     "spurious_reversed",
                                                                     "accuracy")
        and r["task"] in ("zeroshot", "classifier")
    )  # fmt: skip
    return unpack_correct(r).astype(float)


def test_image_sweep_end_to_end_on_one_rendered_world(tmp_path, world_cache):
    overrides = [*MICRO, f"data.cache_dir={world_cache}"]
    presets = ("label", "background", "rich", "details")
    records = xue_images.run_images("tiny", [0], tmp_path, overrides, presets=presets)
    runs = {(r["learner"], r["preset"]): set() for r in records}
    for r in records:
        runs[(r["learner"], r["preset"])].add((r["task"], r["split"]))
    every = {("attributes", "balanced")}  # the precondition's probes, on every run
    assert runs == {
        **{("clip", p): every | {("zeroshot", s) for s in ("id", *SHIFTS)} for p in presets},
        ("supervised", "labels"): every | {("classifier", s) for s in ("id", *SHIFTS)},
    }
    # the presets differ only in captions: same images, richer text; `details` names the
    # object's colour and texture and never the background (the shortcut)
    label, rich, details = (
        load_split(xue_images.run_config("clip", p, 0, tmp_path, overrides).data, "train")
        for p in ("label", "rich", "details")
    )
    assert (label.images == rich.images).all() and (label.images == details.images).all()
    assert sum(map(len, rich.captions)) > sum(map(len, label.captions))
    assert not any("background" in c for c in details.captions)
    assert any("background" in c for c in rich.captions)
    colors = details.attribute_values["color"]
    assert any(any(f" {color} " in c for color in colors) for c in details.captions)
    assert xue_images.image_test_design(overrides) == stats.PER_SEED  # a world per seed
    rows = image_claims(records, test=stats.PER_SEED)  # paired errors from the `correct` fields
    assert [c["id"] for c in rows] == ["IMG-C1", "IMG-C4", "IMG-C5"]
    pairs = [(("clip", "rich"), ("supervised", "labels")),  # IMG-C1
             (("clip", "details"), ("clip", "background"))]  # IMG-C5  # fmt: skip
    for row, (a, b) in zip(rows[::2], pairs, strict=True):
        diff = _shift_correct(records, *a) - _shift_correct(records, *b)  # the same images
        assert row["se_test"] == pytest.approx(np.std(diff, ddof=1) / np.sqrt(diff.size))
    assert "label < background < rich" in rows[1]["statement"]  # details is not in the chain
    for c in rows:  # the supervised run's own shape probe decides whether a row can be answered
        assert c["precondition"]["status"] in (stats.MET, stats.FAILED)
        assert "shape probe" in c["precondition"]["evidence"]
        assert "spurious_reversed" in c["statement"] and "sketch" in c["ours"]


def test_run_writes_results_claims_and_report(tmp_path, world_cache, monkeypatch):
    micro_vec = scales.VectorScale(
        n=200, n_test=200, steps=10, sl_steps=10, check_steps=10, seeds=(0, 1), jobs=1
    )
    monkeypatch.setitem(scales.VECTOR_SCALES, "tiny", micro_vec)
    micro_img = scales.ImageScale(
        256, 64, 4, 4, 64, (0,), (*MICRO, f"data.cache_dir={world_cache}")
    )
    monkeypatch.setitem(scales.IMAGE_SCALES, "tiny", micro_img)
    result = xue2024.run("tiny", None, tmp_path)
    assert set(result) >= {"meta", "records", "claims", "checks", "note"}
    loaded = read_results(tmp_path / "results.json")
    assert len(loaded["records"]) == len(result["records"])
    assert {r["dataset"] for r in loaded["records"]} == {"xue_vector", "shapes"}
    saved = json.loads((tmp_path / "claims.json").read_text())
    ids = {c["id"].split("/")[0] for c in saved["claims"]}
    assert {"C1", "C2-prototype", "C3", "C4", "C8", "IMG-C1", "IMG-C4", "IMG-C5"} <= ids
    checks = {c["id"] for c in saved["checks"]}
    assert checks >= {"sgd-squared", "linear-full-rank-flat", "linear-headline-flat"}
    # one family, every row with its margin, precondition and, if undecided, seeds needed
    for c in saved["claims"]:
        assert c["family_size"] == len(saved["claims"]) and c["margin_reason"]
        assert c["precondition"]["status"] and c["fails_if"]
        assert c["verdict"] in ("held", "not held") or c["seeds_needed"] is not None
        assert not (c["exact"] and c["raw_verdict"] != "inconclusive")
    linear = {"C3/linear", "C3-order-a/linear", "C3-order-b/linear", "C4/linear"}
    assert not linear & {c["id"] for c in saved["claims"]}  # identities: checks only
    images = [c for c in saved["claims"] if c["id"].startswith("IMG")]
    assert all(c["precondition"]["status"] != stats.NOT_CHECKED for c in images)  # a world
    n_seeds = {c["id"]: c["n_seeds"] for c in saved["claims"]}
    assert n_seeds["C8"] == 2 and n_seeds["IMG-C4"] == 1  # each sweep's own scale seeds
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5  # 4 plots + the shift-table chart
    assert "sgd-squared" in page and "reconstruction" in page
    assert_reads_well(tmp_path / "report.html", ["Accuracy under shift", "Claims", "Checks",
                                                 "What the splits look like"])  # fmt: skip
    assert ShapesConfig().n_train != 256  # the micro scale did not leak into the defaults


# ~15 s: the executors' tests check parallel == sequential records for every engine in the
# default run (tests/test_executors.py); this one repeats it on xue2024's own grid.
@pytest.mark.slow
def test_parallel_runs_give_the_sequential_records_in_run_order(tmp_path, world_cache, monkeypatch):
    micro = scales.ImageScale(
        256, 64, 4, 4, 64, (0,), (*MICRO, f"data.cache_dir={world_cache}"), jobs=1
    )
    records = {}
    for jobs in (1, 2):
        scale = dataclasses.replace(micro, jobs=jobs)
        monkeypatch.setitem(scales.IMAGE_SCALES, "tiny", scale)
        out = tmp_path / f"jobs{jobs}"
        runs = xue_images.run_images("tiny", [0], out, presets=("label", "rich"))
        keys = ("learner", "preset", "split", "metric", "value")
        records[jobs] = [tuple(r[k] for k in keys) for r in runs]
    assert records[1] == records[2]
    runs_in_order = [run for run, _ in itertools.groupby(r[:2] for r in records[2])]
    assert runs_in_order == [("clip", "label"), ("clip", "rich"), ("supervised", "labels")]
