"""Config loading: typos are errors with suggestions, values are type- and range-checked."""

from __future__ import annotations

import pytest

from mmcl.config import apply_overrides, config_hash, load_config, save_config
from mmcl.errors import MMCLError
from mmcl.train.config import RunConfig


def test_defaults_and_overrides_reach_nested_sections():
    cfg = load_config(RunConfig, None, ["train.steps=7", "data.shapes.spurious_strength=0.5"])
    assert cfg.train.steps == 7
    assert cfg.data.shapes.spurious_strength == 0.5
    assert cfg.train.lr == RunConfig().train.lr  # untouched keys keep their defaults


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [
        ("train.stpes=3", "train.steps"),
        ("trian.steps=3", "train"),
        ("model.widht=8", "model.width"),
    ],
)
def test_unknown_key_names_it_and_suggests_the_nearest(override, suggestion):
    with pytest.raises(MMCLError) as error:
        load_config(RunConfig, None, [override])
    key = override.split("=")[0]
    assert repr(key.split(".")[0] if suggestion == "train" else key) in str(error.value)
    assert suggestion in str(error.value)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.steps=0", "train.steps"),
        ("train.steps=1.5", "train.steps"),
        ("train.lr=fast", "train.lr"),
        ("train.precision=fp16", "train.precision"),
        ("method.name=simclrr", "simclr"),
        ("data.shapes.spurious_strength=1.5", "spurious_strength"),
        ("model.image=resnet19", "resnet18"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(override, named):
    with pytest.raises(MMCLError, match=named):
        load_config(RunConfig, None, [override])


def test_override_without_equals_is_an_error():
    with pytest.raises(MMCLError, match="key=value"):
        apply_overrides({}, ["train.steps"])


def test_yaml_round_trip_keeps_config_and_hash(tmp_path):
    cfg = load_config(RunConfig, None, ["train.steps=11", "eval.tasks=[zeroshot,knn]"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(RunConfig, tmp_path / "config.yaml")
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert config_hash(load_config(RunConfig, None, ["train.steps=12"])) != config_hash(cfg)


def test_missing_or_malformed_file_names_the_file(tmp_path):
    with pytest.raises(MMCLError, match="nope.yaml"):
        load_config(RunConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(MMCLError, match="bad.yaml"):
        load_config(RunConfig, bad)


def test_override_values_yaml_cannot_parse_stay_text():
    cfg = load_config(RunConfig, None, ["data.csv_separator=,", "name=[x", "train.steps=7"])
    assert cfg.data.csv_separator == ","
    assert cfg.name == "[x"
    assert cfg.train.steps == 7
