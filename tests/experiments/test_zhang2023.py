"""zhang2023 repro: pair statistics vs naive loops, claims computed from records, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmcl.cli.repro import PAPERS
from mmcl.config import load_config
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError
from mmcl.eval.tasks import read_results
from mmcl.experiments import zhang2023, zhang_pairs
from mmcl.experiments import zhang_resampling as zr
from mmcl.train.config import RunConfig

SPLITS = ("id", "spurious_reversed", "sketch", "unseen_colors")


def _split() -> WorldSplit:
    rng = np.random.default_rng(0)
    n = 40
    attrs = {k: torch.from_numpy(rng.integers(0, 3, n)) for k in zhang_pairs.NUISANCE}
    labels = torch.from_numpy(rng.integers(0, 4, n))
    captions = [f"a {int(y)} {int(b)}" for y, b in zip(labels, attrs["background"], strict=True)]
    return WorldSplit(
        name="train",
        images=torch.from_numpy(rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)),
        labels=labels,
        attributes={"shape": labels, **attrs},
        attribute_values={},
        captions=captions,
        class_names=["a", "b", "c", "d"],
        prompt_templates=["a {}."],
    )


def test_caption_partners_are_exactly_the_other_same_caption_images():
    split = _split()
    partners = zhang_pairs.caption_partners(split.captions)
    for i, caption in enumerate(split.captions):
        expected = {j for j, c in enumerate(split.captions) if c == caption and j != i}
        got = {int(j) for j in partners[i] if j >= 0}
        assert got == expected


def test_pair_statistics_match_a_naive_count():
    split = _split()
    partners = zhang_pairs.caption_partners(split.captions)
    first, second = zhang_pairs.sample_text_pairs(partners, 500, seed=1)
    stats = zhang_pairs.attribute_statistics(split, first, second)
    same = sum(int(split.labels[a] == split.labels[b]) for a, b in zip(first, second, strict=True))
    assert stats["same_class"] == pytest.approx(same / 500)
    assert stats["same_class"] == 1.0  # the caption names the class here
    for name in zhang_pairs.NUISANCE:
        attr = split.attributes[name]
        naive = np.mean([int(attr[a] != attr[b]) for a, b in zip(first, second, strict=True)])
        assert stats["differs"][name] == pytest.approx(naive)
    assert stats["differs"]["background"] == 0.0  # also named by the caption
    full = zhang_pairs.pair_statistics(split, 200, seed=0)
    assert full["augmentation"]["any_nuisance_differs"] == 0.0
    assert full["text"]["any_nuisance_differs"] > 0.0


def _records(accuracy: dict[str, float], seeds=(0, 1)) -> list[dict]:
    """Probe records with the given id accuracy (points) per variant; shifts 20 points lower."""
    out = []
    for variant, acc in accuracy.items():
        for seed in seeds:
            for split in SPLITS:
                value = (acc - (20 if split != "id" else 0) + seed) / 100
                out.append({"task": "linear_probe", "variant": variant, "split": split,
                            "seed": seed, "value": value, "model": variant,
                            "index_seconds": 1.0, "train_seconds": 100.0})  # fmt: skip
    return out


PAPER_LIKE = {
    "simclr": 60.0, "new_positive": 66.0, "drop_easy_negative": 61.0,
    "drop_false_negative": 60.2, "drop_false_positive": 60.5,
    "control_random_projection": 59.0, "control_label_oracle": 70.0, "index_new_positive": 64.0,
}  # fmt: skip


def test_claims_hold_for_paper_like_numbers_and_fail_otherwise():
    records = _records(PAPER_LIKE)
    for r in records:
        if r["variant"] == "control_label_oracle":
            r[zr.SAME_CLASS_METRIC] = 1.0
    claims = zhang2023.resampling_claims(records)
    held = {c["id"]: c["held"] for c in claims}
    assert all(held.values()), held
    assert "oracle 1.00" in claims[0]["ours"]
    flipped = {**PAPER_LIKE, "new_positive": 60.5, "drop_easy_negative": 64.0,
               "control_random_projection": 62.0}  # fmt: skip
    held = {c["id"]: c["held"] for c in zhang2023.resampling_claims(_records(flipped))}
    assert not held["new_positive_gain"] and not held["negative_side_small"]
    assert not held["control_random_projection"] and held["control_label_oracle"]
    table = zhang2023.probe_table(_records(PAPER_LIKE))
    assert table["simclr"]["id"] == pytest.approx(60.5)  # the seed mean
    assert zhang2023.shift_mean(table["simclr"]) == pytest.approx(40.5)


def test_index_cost_claim_reads_the_timings():
    records = _records(PAPER_LIKE)
    for r in records:
        r["index_seconds"] = 50.0 if r["variant"] == "index_new_positive" else 0.0
    held = {c["id"]: c["held"] for c in zhang2023.resampling_claims(records)}
    assert held["index_cost"] is False


def test_variant_overrides_make_valid_configs(tmp_path):
    for name in zr.VARIANTS:
        overrides = [*zr.SCALES["tiny"].overrides(), *zr.variant_overrides(name, tmp_path)]
        cfg = load_config(RunConfig, None, overrides)
        if name != zr.BASELINE:
            assert cfg.method.name == "resampled_simclr"
            assert cfg.method.resampling.uses_teacher
    assert load_config(RunConfig, None, zr.variant_overrides("new_positive", tmp_path)
                       ).method.resampling.teacher_path == str(tmp_path)  # fmt: skip


def test_paper_scale_fails_fast_without_data(monkeypatch):
    monkeypatch.delenv(zr.IMAGENET100_ENV, raising=False)
    monkeypatch.delenv(zr.CLIP_WEIGHTS_ENV, raising=False)
    with pytest.raises(MMCLError, match=zr.IMAGENET100_ENV):
        zhang2023.run("paper", None, Path("unused"))


def test_outputs_are_written_from_records(tmp_path):
    records = _records(PAPER_LIKE, seeds=(0,))
    pairs = zhang_pairs.pair_statistics(_split(), 100)
    claims = zhang2023.pair_claims(pairs, records) + zhang2023.resampling_claims(records)
    meta = zhang2023.json_safe({"run": "t", "pairs": pairs, "bound": float("inf")})
    result = {"meta": meta, "records": zhang2023.pair_records(pairs), "claims": claims,
              "note": "test"}  # fmt: skip
    result["records"] += [
        {**r, "dataset": "shapes", "n_samples": 10, "metric": "accuracy"} for r in records
    ]
    zhang2023.write_outputs(tmp_path, result)
    assert read_results(tmp_path / "results.json")["meta"]["bound"] == "inf"
    assert json.loads((tmp_path / "claims.json").read_text())[0]["id"] == "pairs_consistency"
    page = (tmp_path / "report.html").read_text()
    assert "new_positive_gain" in page and "data:image/png;base64" in page


def test_registered_in_repro():
    assert "zhang2023" in PAPERS


def _tiny_cfg(tiny_overrides: list[str], name: str, *extra: str) -> RunConfig:
    return load_config(RunConfig, None, [*tiny_overrides, f"name={name}", "train.steps=2", *extra])


def test_index_variant_trains_end_to_end(tiny_overrides, tmp_path):
    cfg = _tiny_cfg(
        tiny_overrides, "index", "method.name=resampled_simclr",
        "method.resampling.teacher=label_oracle", "method.resampling.neighbours=index",
    )  # fmt: skip
    run = zr.train_resampled(cfg, tmp_path / "index")
    assert run.index_seconds > 0 and run.neighbours.indices.shape[1] == 5
    train_labels = load_split_labels(cfg)  # label-oracle neighbours share the class
    assert (train_labels[run.neighbours.indices] == train_labels[:, None]).all()
    assert zr.last_logged(tmp_path / "index", zr.SAME_CLASS_METRIC) == 1.0
    assert zr.last_logged(tmp_path / "index", "no_such_metric") is None


def load_split_labels(cfg: RunConfig) -> torch.Tensor:
    from mmcl.train.data import load_split

    return load_split(cfg.data, "train").labels


@pytest.mark.slow
def test_clip_teacher_text_pairs_and_probe_end_to_end(tiny_overrides, tmp_path):
    """A CLIP teacher run, the in-batch and index variants reading it, text positives."""
    teacher = _tiny_cfg(tiny_overrides, "teacher", "method.name=clip")
    zr.train(teacher, tmp_path / "teacher")
    records = []
    for name in ("new_positive", "index_new_positive"):
        cfg = _tiny_cfg(tiny_overrides, name, *zr.variant_overrides(name, tmp_path / "teacher"))
        records += zr.probe_records(zr.train_resampled(cfg, tmp_path / name), {"variant": name})
    scale = zr.SCALES["tiny"]
    records += zhang_pairs.text_positive_records(scale, 0, tmp_path, _tiny_args(tiny_overrides))
    assert {r["variant"] for r in records} == {"new_positive", "index_new_positive",
                                               zhang_pairs.TEXT_RUN}  # fmt: skip
    assert all(0.0 <= r["value"] <= 1.0 for r in records)


def _tiny_args(tiny_overrides: list[str]) -> list[str]:
    return [*tiny_overrides, "train.steps=2"]
