"""The content-keyed feature cache: one forward pass per image, none on a repeat, never stale."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from mmcl.data.worlds import load_world, render
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.eval import split_features, suite
from mmcl.eval.features import FeatureCache, extract_features, files_identity
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.models.model import ModelConfig, build_model
from mmcl.models.tokenizer import Tokenizer

from .conftest import make_batches

TASKS = ["zeroshot", "classifier", "linear_probe", "knn", "retrieval", "attributes"]
WORLD = ShapesConfig(n_train=96, n_test=160)


class CountingTower(nn.Module):
    """Wraps an image tower and counts the images it is run on."""

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower
        self.feature_dim = tower.feature_dim
        self.images_seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += images.shape[0]
        return self.tower(images)  # (B, F)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    cfg = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)
    model = build_model(cfg, image_size=32, with_text=True, num_classes=len(render.SHAPES))
    model.image_tower = CountingTower(model.image_tower)
    return model


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("worlds")
    names = ["train", "id", "sketch", "balanced"]
    return {name: load_world(WORLD, name, cache) for name in names}


def eval_data(world: dict, feature_dir, train_size: int = 64) -> EvalData:
    return EvalData(
        dataset="shapes",
        train=world["train"],
        tests={"id": world["id"], "sketch": world["sketch"]},
        probe_train_size=train_size,
        attribute_split=world["balanced"],
        batch_size=32,
        feature_dir=feature_dir,
    )


def run(model, data, tasks=tuple(TASKS)) -> list[dict]:
    return evaluate_model(model, "tiny", data, list(tasks), Tokenizer())


def test_one_forward_pass_per_image_across_tasks_and_none_on_a_second_call(world, tmp_path):
    model = tiny_model()
    data = eval_data(world, tmp_path / "features")
    images = 64 + 3 * 160  # probe-train rows, two test splits, the attribute split
    first = run(model, data)
    assert {r["task"] for r in first} == set(TASKS)
    assert model.image_tower.images_seen == images
    assert len(list((tmp_path / "features").glob("*.pt"))) == 4

    second = run(model, data)
    assert model.image_tower.images_seen == images  # no forward pass at all
    uncached = run(model, eval_data(world, None))
    assert model.image_tower.images_seen == 2 * images
    assert second == first == uncached  # cached features give the very same numbers


def test_changed_weights_or_split_miss_the_cache(world, tmp_path):
    data = eval_data(world, tmp_path / "features")
    model = tiny_model()
    run(model, data, ["knn"])
    seen = model.image_tower.images_seen
    with torch.no_grad():
        next(model.image_tower.parameters()).view(-1)[0] += 1e-3  # one weight, a little
    run(model, data, ["knn"])
    assert model.image_tower.images_seen == 2 * seen
    assert len(list((tmp_path / "features").glob("*.pt"))) == 6

    other = load_world(ShapesConfig(n_train=96, n_test=160, seed=1), "id", tmp_path / "w")
    before = model.image_tower.images_seen
    suite._features(model, other, None, data, cache=FeatureCache(data.feature_dir, model))
    assert model.image_tower.images_seen == before + 160  # same split name, other content


def test_key_sees_weights_rows_kind_and_preprocessing(world, tmp_path):
    model = tiny_model()
    cache = FeatureCache(tmp_path, model)
    split = world["id"]
    pre = suite._preprocessing(split, None, autocast=False)
    base = cache.key(suite._split_identity(split, 160), "backbone", pre)
    assert base == FeatureCache(tmp_path, tiny_model()).key(
        suite._split_identity(split, 160), "backbone", pre
    )
    changed = [
        FeatureCache(tmp_path, tiny_model(seed=1)).key(
            suite._split_identity(split, 160), "backbone", pre
        ),
        cache.key(suite._split_identity(split, 159), "backbone", pre),
        cache.key(suite._split_identity(world["sketch"], 160), "backbone", pre),
        cache.key(suite._split_identity(split, 160), "embedding", pre),
        cache.key(
            suite._split_identity(split, 160),
            "backbone",
            suite._preprocessing(split, None, autocast=True),
        ),
        cache.key(
            suite._split_identity(split, 160),
            "backbone",
            suite._preprocessing(split, Tokenizer(16), autocast=False),
        ),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def _cached_once(fake_model, tmp_path):
    cache = FeatureCache(tmp_path, fake_model)
    key = cache.key({"split": "x"}, "backbone", {})
    batches = make_batches()
    expected = cache.get_or_extract(key, lambda: extract_features(fake_model, batches))
    return cache, key, batches, expected


@pytest.mark.parametrize("damage", ["truncate", "garbage", "tampered", "other_key"])
def test_damaged_cache_file_is_detected_and_recomputed(fake_model, tmp_path, damage):
    cache, key, batches, expected = _cached_once(fake_model, tmp_path)
    path = cache.path(key)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(256))
    else:  # a loadable file whose content is wrong
        payload = torch.load(path, weights_only=True)
        if damage == "tampered":
            payload["tensors"]["features"][3, 1] += 1.0
        else:
            payload["key"] = "0" * 32
        torch.save(payload, path)
    seen = fake_model.images_seen
    assert cache.load(key) is None
    again = cache.get_or_extract(key, lambda: extract_features(fake_model, batches))
    assert fake_model.images_seen == seen + 20  # recomputed
    assert torch.equal(again.features, expected.features)
    reread = cache.load(key)  # and rewritten whole
    assert reread is not None and torch.equal(reread.features, expected.features)


def test_round_trip_keeps_every_field(fake_model, tmp_path):
    cache, key, _, expected = _cached_once(fake_model, tmp_path)
    loaded = cache.load(key)
    for name in ("features", "labels", "index", "texts"):
        assert torch.equal(getattr(loaded, name), getattr(expected, name))
    assert loaded.attributes.keys() == expected.attributes.keys()
    for name, values in expected.attributes.items():
        assert torch.equal(loaded.attributes[name], values)
    assert cache.hits == 0 and cache.misses == 1


def test_files_identity_changes_when_a_file_is_rewritten(tmp_path):
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for path in paths:
        path.write_bytes(b"abc")
    before = files_identity(paths)
    assert files_identity(paths) == before
    assert files_identity(paths[:2]) != before
    os.utime(paths[1], ns=(1, 1))  # same bytes, another modification time
    assert files_identity(paths) != before


def test_second_eval_of_a_run_folder_runs_no_forward_pass(tiny_overrides, tmp_path, monkeypatch):
    from mmcl.config import load_config
    from mmcl.runs.scoring import evaluate_run
    from mmcl.runs.training import train
    from mmcl.train.config import RunConfig

    cfg = load_config(RunConfig, None, [*tiny_overrides, "train.steps=2", "name=cached"])
    run_dir = tmp_path / "run"
    train(cfg, run_dir)
    images = []

    def counting_extract(model, batches, *args, **kwargs):
        fs = extract_features(model, batches, *args, **kwargs)
        images.append(len(fs))
        return fs

    monkeypatch.setattr(split_features, "extract_features", counting_extract)
    first = evaluate_run(run_dir, ["linear_probe", "knn"])
    n_test = sum(r["n_samples"] for r in first["records"] if r["task"] == "knn")
    assert sum(images) == cfg.eval.probe_train_size + n_test  # once per image, two tasks
    second = evaluate_run(run_dir, ["zeroshot", "linear_probe", "knn"])
    assert sum(images) == cfg.eval.probe_train_size + n_test  # nothing more
    assert [r for r in second["records"] if r["task"] != "zeroshot"] == first["records"]
    assert len(list((run_dir / "features").glob("*.pt"))) == 1 + len(cfg.eval.splits)
