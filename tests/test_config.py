"""Config loading: typos are errors with suggestions, values are type- and range-checked."""

from __future__ import annotations

import re

import pytest

from mmcl.config import (
    apply_overrides,
    config_hash,
    differing_keys,
    load_config,
    save_config,
    to_dict,
)
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
    cfg = load_config(RunConfig, None, ["data.csv.separator=,", "name=[x", "train.steps=7"])
    assert cfg.data.csv.separator == ","
    assert cfg.name == "[x"
    assert cfg.train.steps == 7


def test_exponents_without_a_dot_are_numbers_though_yaml_11_reads_them_as_text(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  weight_decay: 1e-6\n")
    cfg = load_config(RunConfig, path, ["train.lr=2e-3", "train.steps=1e2"])
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.steps) == (0.002, 1e-6, 100)
    with pytest.raises(MMCLError, match=re.escape("'train.lr' must be a number")):
        load_config(RunConfig, None, ["train.lr=fast"])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train=5", "'train' must be a section"),
        ("model=[1]", "'model' must be a section"),
        ("data.shapes=3", "'data.shapes' must be a section"),
        ("train.lr=.nan", "'train.lr' = nan must be a finite number"),
        ("data.max_bad_fraction=.nan", "'data.max_bad_fraction' = nan must be a finite number"),
        ("train.lr=-.inf", "'train.lr' = -inf must be a finite number"),
        ("model.text_width=0", "model.text_width"),
        ("model.text_layers=0", "model.text_layers"),
        ("model.text_heads=0", "model.text_heads"),
        ("model.context_length=0", "model.context_length"),
    ],
)
def test_malformed_values_are_errors_naming_the_key(override, named):
    with pytest.raises(MMCLError, match=re.escape(named)):
        load_config(RunConfig, None, [override])


def test_value_where_a_section_belongs_in_a_file_names_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: 5\n")
    with pytest.raises(MMCLError, match="'train' must be a section"):
        load_config(RunConfig, path)


def test_nested_section_errors_name_the_key_as_typed():
    with pytest.raises(MMCLError, match=r"data\.shapes\.n_train = 0") as error:
        load_config(RunConfig, None, ["data.shapes.n_train=0"])
    assert "world.n_train" not in str(error.value)


def test_differing_keys_names_each_changed_key():
    old = load_config(RunConfig, None, ["train.steps=7"])
    new = load_config(RunConfig, None, ["train.steps=9", "data.shapes.n_train=64"])
    assert differing_keys(to_dict(old), to_dict(new)) == [
        "data.shapes.n_train: 10000 -> 64",
        "train.steps: 7 -> 9",
    ]
