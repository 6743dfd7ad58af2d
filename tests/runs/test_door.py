"""The one door: a run is trained once, resumed when cut short, reused by key, scored once per
task list, and a folder holding another config's run is never replaced without being asked."""

from __future__ import annotations

import json

import pytest

from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.eval.features import weights_digest
from mmcl.runs import door
from mmcl.train.config import RunConfig


def _cfg(overrides: list[str], *more: str) -> RunConfig:
    return load_config(RunConfig, None, [*overrides, "train.steps=3", "name=door", *more])


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the door trained a run it should have reused")

    return lambda: monkeypatch.setattr(door, "train", refuse)


def test_a_finished_run_is_reused_not_trained_again(tiny_overrides, no_training):
    cfg = _cfg(tiny_overrides)
    first = door.trained(cfg)
    assert not first.reused and door.is_trained(cfg)
    marker = json.loads((door.default_dir(cfg) / "trained.json").read_text())
    assert marker["train_key"] == door.train_key(cfg) and marker["seconds"] > 0
    no_training()
    again = door.trained(cfg)
    assert again.reused
    assert weights_digest(again.method.model) == weights_digest(first.method.model)


def test_watching_and_scoring_settings_reuse_the_training(tiny_overrides, no_training):
    cfg = _cfg(tiny_overrides)
    door.trained(cfg)
    no_training()
    other = _cfg(tiny_overrides, "train.log_every=1", "eval.probe_train_size=64", "name=x")
    assert door.train_key(other) == door.train_key(cfg)
    assert door.run_key(other) != door.run_key(cfg)  # scored otherwise: its own results
    assert door.trained(other, door.default_dir(cfg)).reused


def test_scores_are_cached_by_key_and_tasks(tiny_overrides, no_training):
    cfg = _cfg(tiny_overrides)
    records = door.scored(cfg, tasks=["zeroshot"], tags={"arm": "a"})
    assert records and all(r["task"] == "zeroshot" and r["arm"] == "a" for r in records)
    assert door.is_scored(cfg, tasks=["zeroshot"])
    assert not door.is_scored(cfg, tasks=["zeroshot", "linear_probe"])
    no_training()
    assert door.scored(cfg, tasks=["zeroshot"], tags={"arm": "a"}) == records
    both = door.scored(cfg, tasks=["zeroshot", "linear_probe"])  # rescored, not retrained
    assert {r["task"] for r in both} == {"zeroshot", "linear_probe"}


def test_a_cut_run_resumes_to_the_same_weights(tiny_overrides, tmp_path):
    keep = ["train.checkpoint_every=1", "train.keep_checkpoints=5"]  # watching: same key
    whole = door.trained(_cfg(tiny_overrides, f"out_dir={tmp_path / 'a'}"))
    cfg = _cfg(tiny_overrides, f"out_dir={tmp_path / 'b'}", *keep)
    door.trained(cfg)
    run_dir = door.default_dir(cfg)
    # what a kill after step 1 leaves: no marker, no later checkpoint
    (run_dir / "trained.json").unlink()
    for path in (run_dir / "checkpoints").iterdir():
        if path.name != "step_0000001.pt":
            path.unlink()
    assert not door.is_trained(cfg)
    resumed = door.trained(cfg)
    assert not resumed.reused and door.is_trained(cfg)
    assert weights_digest(resumed.method.model) == weights_digest(whole.method.model)


def test_another_configs_folder_is_refused_unless_replaced(tiny_overrides):
    cfg = _cfg(tiny_overrides)
    door.trained(cfg)
    other = _cfg(tiny_overrides, "train.lr=0.01")
    with pytest.raises(MMCLError, match="holds a run of another config"):
        door.trained(other, door.default_dir(cfg))
    assert door.is_trained(cfg)  # nothing was removed
    replaced = door.trained(other, door.default_dir(cfg), replace=True)
    assert not replaced.reused and door.is_trained(other) and not door.is_trained(cfg)


OLD_FLAT_KEYS = {  # what every saved config held before each data format owned its options
    "csv_img_key": "filepath",
    "csv_caption_key": "title",
    "csv_label_key": "",
    "csv_separator": ",",
    "coco_images": "",
    "caption_template": "a photo of a {}.",
    "class_subset": "",
    "imagenet_root": "",
    "captions_text": "title+tags+description",
    "caption_class_filter": False,
    "shuffle_buffer": 1000,
    "shard_samples": 0,
}


def test_a_run_saved_with_the_old_flat_format_keys_is_still_reused(tiny_overrides, no_training):
    import yaml

    from mmcl.train.config import moved_format_keys

    cfg = _cfg(tiny_overrides)
    first = door.trained(cfg)
    saved = door.default_dir(cfg) / "config.yaml"
    written = yaml.safe_load(saved.read_text())
    written["data"].update(OLD_FLAT_KEYS)
    saved.write_text(yaml.safe_dump(written))
    no_training()
    again = door.trained(cfg)
    assert again.reused
    assert weights_digest(again.method.model) == weights_digest(first.method.model)
    # a value other than the default moves into its format's section
    moved = moved_format_keys({**OLD_FLAT_KEYS, "format": "csv", "csv_label_key": "label"})
    assert moved == {"format": "csv", "csv": {"label_key": "label"}}


def test_scores_written_by_mmcl_eval_are_read_back_by_the_door(
    tiny_overrides, no_training, monkeypatch
):
    from mmcl.runs.scoring import evaluate_run

    cfg = _cfg(tiny_overrides)
    door.trained(cfg)
    written = evaluate_run(door.default_dir(cfg), ["zeroshot"])["records"]
    no_training()
    monkeypatch.setattr(door, "score_run", lambda *a, **k: pytest.fail("scored again"))
    assert door.scored(cfg, tasks=["zeroshot"]) == written
