"""zhang2023 runs: pair statistics vs naive loops, the grid's configs, outputs, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmcl.config import load_config
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError
from mmcl.eval.tasks import pack_correct, read_results
from mmcl.experiments import zhang2023
from mmcl.experiments.registry import PAPERS
from mmcl.experiments.zhang2023 import checks, claims, grid, probes, runner, scales
from mmcl.experiments.zhang2023 import pairs as zhang_pairs
from mmcl.experiments.zhang2023 import resampling as zr
from mmcl.stats import PER_SEED
from mmcl.train.config import RunConfig
from mmcl.verdicts import decide_families

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


def test_variant_overrides_make_valid_configs(tmp_path):
    for name in zr.VARIANTS:
        overrides = [*zr.SCALES["tiny"].overrides(), *zr.variant_overrides(name, tmp_path)]
        cfg = load_config(RunConfig, None, overrides)
        if name != zr.BASELINE:
            assert cfg.method.name == "resampled_simclr"
            assert cfg.method.resampling.uses_teacher
    assert load_config(RunConfig, None, zr.variant_overrides("new_positive", tmp_path)
                       ).method.resampling.teacher_path == str(tmp_path)  # fmt: skip


def test_paper_scale_fails_fast_without_data(tmp_path):
    with pytest.raises(MMCLError, match="data.path"):
        zhang2023.run("paper", None, tmp_path)
    given = ["data.path=/no/such", "data.val_path=/no/such", "method.resampling.teacher_path=x"]
    with pytest.raises(MMCLError, match="does not exist"):
        zhang2023.run("paper", None, tmp_path, given)
    assert not (tmp_path / "runs").exists()


def test_paper_recipe_takes_the_paths_from_overrides(tmp_path):
    given = [f"data.path={tmp_path}", f"data.val_path={tmp_path}",
             f"method.resampling.teacher_path={tmp_path}"]  # fmt: skip
    plan = scales.grid_plan(scales.resolve("paper"), None, tmp_path, given)
    assert not set(plan.variants) & set(zr.WORLD_ONLY) and plan.teacher_steps is None
    cfg = load_config(RunConfig, None, plan.overrides(plan.steps, "method.name=simclr"))
    assert cfg.data.path == str(tmp_path) and cfg.train.steps == 50040


def test_tiny_plan_has_three_seeds_and_user_overrides_last(tmp_path):
    plan = scales.grid_plan(scales.resolve("tiny"), None, tmp_path, ["train.steps=7"])
    assert len(plan.seeds) >= 3 and plan.runs()[0] == probes.BASELINE
    small = scales.grid_plan(scales.resolve("small"), None, tmp_path)
    assert small.runs()[-1] == probes.TEXT_RUN and set(plan.runs()) < set(small.runs())
    cfg = load_config(RunConfig, None, plan.overrides(plan.steps, "method.name=simclr"))
    assert cfg.train.steps == 7  # --set wins over the scale's schedule
    assert scales.grid_plan(scales.resolve("small"), None, tmp_path).seeds == tuple(range(5))
    assert scales.grid_plan(scales.resolve("tiny"), 4, tmp_path).seeds == (0, 1, 2, 3)


def _fake_result(tmp_path: Path) -> dict:
    pairs = [{**zhang_pairs.pair_statistics(_split(), 100, seed=s), "seed": s} for s in (0, 1)]
    records = [{"model": v, "task": "linear_probe", "dataset": "shapes", "split": split,
                "n_samples": 100, "metric": "accuracy", "value": 0.3 + 0.01 * seed,
                "correct": pack_correct(np.arange(100) < 30 + seed), "variant": v, "seed": seed}
               for v in ("simclr", "new_positive") for seed in (0, 1, 2)
               for split in SPLITS]  # fmt: skip
    meta = runner.json_safe({"run": "t", "pairs": pairs, "bound": float("inf")})
    rows = claims.pair_claims(pairs, records)
    rows += claims.resampling_claims(records, test=PER_SEED)
    return {"meta": meta, "records": records + runner.pair_records(pairs),
            "claims": decide_families(rows),
            "checks": [checks.CHECKS["identity"].result(0.0)], "note": "test note"}  # fmt: skip


def test_outputs_are_written_from_records(tmp_path):
    result = _fake_result(tmp_path)
    runner.write_outputs(tmp_path, result)
    assert read_results(tmp_path / "results.json")["meta"]["bound"] == "inf"
    table = json.loads((tmp_path / "claims.json").read_text())
    assert table["claims"][0]["id"] == "pairs_diversity" and table["checks"][0]["passed"]
    page = (tmp_path / "report.html").read_text()
    assert "new_positive_gain" in page and "data:image/png;base64" in page
    assert "test note" in page and "identity" in page


def test_registered_with_its_citation():
    assert "zhang2023" in PAPERS
    assert zhang2023.__doc__.startswith("Zhang, Wang & Wang")


def _tiny_cfg(tiny_overrides: list[str], name: str, *extra: str) -> RunConfig:
    return load_config(RunConfig, None, [*tiny_overrides, f"name={name}", "train.steps=2", *extra])


def test_index_variant_trains_end_to_end(tiny_overrides, tmp_path):
    cfg = _tiny_cfg(
        tiny_overrides, "index", "method.name=resampled_simclr",
        "method.resampling.teacher=label_oracle", "method.resampling.neighbours=index",
    )  # fmt: skip
    run = zr.train_run(cfg, tmp_path / "index")
    neighbours = run.method.neighbours  # built by the method when the trainer asked for data
    assert run.index_seconds > 0 and neighbours.indices.shape[1] == 5
    assert run.train_seconds > 0
    train_labels = load_split_labels(cfg)  # label-oracle neighbours share the class
    assert (train_labels[neighbours.indices] == train_labels[:, None]).all()
    assert zr.last_logged(tmp_path / "index", zr.SAME_CLASS_METRIC) == 1.0
    assert zr.last_logged(tmp_path / "index", "no_such_metric") is None
    again = zr.train_run(cfg, tmp_path / "index")  # the door reuses the finished run ...
    assert again.method.neighbours is None  # ... without building the index again
    assert again.index_seconds == run.index_seconds  # its build time kept beside the run
    for key, value in run.method.state_dict().items():
        torch.testing.assert_close(again.method.state_dict()[key], value.cpu())


def load_split_labels(cfg: RunConfig) -> torch.Tensor:
    from mmcl.data.sources import load_split

    return load_split(cfg.data, "train").labels


def test_grid_trains_and_probes_one_seed(tiny_overrides, tmp_path):
    """The grid's two phases in this process: teacher, pair statistics, two runs."""
    plan = grid.GridPlan(tuple(_tiny_args(tiny_overrides)), (0,), tmp_path,
                         ("simclr", "new_positive", probes.TEXT_RUN), teacher_steps=2, n_pairs=50,
                         jobs=1)  # fmt: skip
    records, prepared = grid.run_grid(plan)
    assert prepared[0]["pairs"]["seed"] == 0 and prepared[0]["pairs"]["n_pairs"] == 50
    agreement = prepared[0]["teacher"]  # the teacher's precondition, measured before any variant
    assert 0.0 <= agreement["same_class"] <= 1.0 and 0.0 < agreement["chance"] < 1.0
    assert prepared[0]["n_classes"] == prepared[0]["pairs"]["n_classes"]
    assert {r["variant"] for r in records} == {"simclr", "new_positive", probes.TEXT_RUN}
    assert all(0.0 <= r["value"] <= 1.0 for r in records)


@pytest.mark.slow
def test_clip_teacher_index_variant_end_to_end(tiny_overrides, tmp_path):
    """A CLIP teacher run and the index variant reading it."""
    teacher = zr.train_teacher(0, tmp_path, [*_tiny_args(tiny_overrides), "method.name=clip"])
    name = "index_new_positive"
    cfg = _tiny_cfg(tiny_overrides, name, *zr.variant_overrides(name, teacher))
    records = zr.probe_records(zr.train_run(cfg, tmp_path / name), {"variant": name})
    assert {r["variant"] for r in records} == {name}
    assert all(0.0 <= r["value"] <= 1.0 for r in records)


def _tiny_args(tiny_overrides: list[str]) -> list[str]:
    return [*tiny_overrides, "train.steps=2"]
