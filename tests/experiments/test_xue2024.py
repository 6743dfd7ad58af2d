"""xue2024 repro: image claims follow the numbers, the image sweep runs through the real trainer,
and `run` writes a readable results.json, claims.json and a report with its plots."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.eval.tasks import read_results
from mmcl.experiments import xue2024, xue_images, xue_vector
from mmcl.train.data import load_split

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


def _records(shift_acc: dict[tuple[str, str], list[float]]) -> list[dict]:
    """Fabricated image records: the given mean shift accuracy per seed on every shift split,
    and 0.99 on `id` (which no claim may read)."""
    out = []
    for (learner, preset), per_seed in shift_acc.items():
        for seed, acc in enumerate(per_seed):
            for split in ("id", *SHIFTS):
                value = 0.99 if split == "id" else acc
                out.append(
                    {
                        "experiment": "images",
                        "learner": learner,
                        "preset": preset,
                        "seed": seed,
                        "split": split,
                        "metric": "accuracy",
                        "value": value,
                    }
                )
    return out


def _claims(label, background, rich, supervised) -> dict[str, dict]:
    records = _records(
        {
            ("clip", "label"): label,
            ("clip", "background"): background,
            ("clip", "rich"): rich,
            ("supervised", "labels"): supervised,
        }
    )
    return {c["id"]: c for c in xue_images.image_claims(records)}


def test_image_claims_hold_when_the_numbers_say_so():
    claims = _claims([0.4], [0.5], [0.7], [0.3])
    assert claims["IMG-C1"]["held"] and claims["IMG-C4"]["held"]
    assert claims["IMG-C1"]["values"]["gap"] == pytest.approx(0.4)


def test_image_claims_fail_when_the_numbers_say_so():
    claims = _claims([0.7], [0.5], [0.4], [0.6])
    assert not claims["IMG-C1"]["held"] and not claims["IMG-C4"]["held"]


def test_several_seeds_report_spread_and_decide_on_the_mean():
    # seed 1 alone would reverse both claims; the means do not
    claims = _claims([0.3, 0.5], [0.4, 0.45], [0.8, 0.45], [0.2, 0.5])
    assert claims["IMG-C1"]["held"] and claims["IMG-C4"]["held"]
    assert "±" in claims["IMG-C1"]["ours"]
    assert claims["IMG-C1"]["values"]["gap"] == pytest.approx((0.6 - 0.05) / 2)


def test_image_claims_need_clip_runs_and_skip_the_baseline_claim_without_one():
    with pytest.raises(MMCLError, match="run_images"):
        xue_images.image_claims(_records({("supervised", "labels"): [0.5]}))
    only_clip = _records({("clip", "label"): [0.2], ("clip", "rich"): [0.5]})
    assert [c["id"] for c in xue_images.image_claims(only_clip)] == ["IMG-C4"]


def test_paper_column_states_direction_and_unknown_figure():
    rows = xue2024.merge_claims(
        [{"id": "C4/svd", "paper": "x", "statement": "s", "ours": "o", "held": True}],
        [{"id": "IMG-C1", "paper": "", "statement": "s", "ours": "o", "held": False}],
    )
    assert all("unknown" in r["paper"] for r in rows)
    assert "richer captions" in rows[0]["paper"] and "supervised" in rows[1]["paper"]
    assert [set(r) for r in xue2024.public_claims(rows)] == [set(xue2024.CLAIM_KEYS)] * 2


def test_seed_list():
    assert xue2024.seed_list(None, (4, 5)) == (4, 5)
    assert xue2024.seed_list(3, (0,)) == (0, 1, 2)
    with pytest.raises(MMCLError, match="--seeds"):
        xue2024.seed_list(0, (0,))


def test_image_sweep_end_to_end_on_one_rendered_world(tmp_path, world_cache):
    overrides = [*MICRO, f"data.cache_dir={world_cache}"]
    records = xue_images.run_images("tiny", [0], tmp_path, overrides, presets=("label", "rich"))
    runs = {(r["learner"], r["preset"]): set() for r in records}
    for r in records:
        runs[(r["learner"], r["preset"])].add((r["task"], r["split"]))
    every = {"id", *SHIFTS}
    assert runs == {
        ("clip", "label"): {("zeroshot", s) for s in every},
        ("clip", "rich"): {("zeroshot", s) for s in every},
        ("supervised", "labels"): {("classifier", s) for s in every},
    }
    # the presets differ only in captions: same images, richer text
    label, rich = (
        load_split(xue_images.run_config("clip", p, 0, tmp_path, overrides).data, "train")
        for p in ("label", "rich")
    )
    assert (label.images == rich.images).all()
    assert sum(map(len, rich.captions)) > sum(map(len, label.captions))
    assert {c["id"] for c in xue_images.image_claims(records)} == {"IMG-C1", "IMG-C4"}


def test_run_writes_results_claims_and_report(tmp_path, world_cache, monkeypatch):
    micro_vec = xue_vector.Scale(n=200, n_test=200, steps=10, sl_steps=10, seeds=(0,))
    monkeypatch.setitem(xue_vector.SCALES, "tiny", micro_vec)
    micro_img = xue_images.ImageScale(
        256, 64, 4, 4, 64, (0,), (*MICRO, f"data.cache_dir={world_cache}")
    )
    monkeypatch.setitem(xue_images.IMAGE_SCALES, "tiny", micro_img)
    result = xue2024.run("tiny", None, tmp_path)
    loaded = read_results(tmp_path / "results.json")
    assert len(loaded["records"]) == len(result["records"])
    assert {r["dataset"] for r in loaded["records"]} == {"xue_vector", "shapes"}
    claims = json.loads((tmp_path / "claims.json").read_text())
    ids = {c["id"].split("/")[0] for c in claims}
    assert {"C1", "C2-prototype", "C3", "C4", "IMG-C1", "IMG-C4"} <= ids
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5  # 4 plots + the shift-table chart
    assert "not held" in page or all(c["held"] for c in claims)
    assert ShapesConfig().n_train != 256  # the micro scale did not leak into the defaults


def test_parallel_runs_give_the_sequential_records_in_run_order(tmp_path, world_cache, monkeypatch):
    micro = xue_images.ImageScale(
        256, 64, 4, 4, 64, (0,), (*MICRO, f"data.cache_dir={world_cache}"), jobs=1
    )
    records = {}
    for jobs in (1, 2):
        scale = dataclasses.replace(micro, jobs=jobs)
        monkeypatch.setitem(xue_images.IMAGE_SCALES, "tiny", scale)
        out = tmp_path / f"jobs{jobs}"
        runs = xue_images.run_images("tiny", [0], out, presets=("label", "rich"))
        keys = ("learner", "preset", "split", "metric", "value")
        records[jobs] = [tuple(r[k] for k in keys) for r in runs]
    assert records[1] == records[2]
    per_run = len(records[2]) // 3
    assert [r[:2] for r in records[2][::per_run]] == [
        ("clip", "label"), ("clip", "rich"), ("supervised", "labels")
    ]  # fmt: skip
