from __future__ import annotations

from collections import Counter

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.eval import attributes
from mmcl.eval.features import FeatureSet
from mmcl.eval.linear_probe import ProbeConfig


def _world(n: int, seed: int, style: int | None = None) -> FeatureSet:
    """Colour is planted in the features; shape is an independent label they do not carry."""
    g = torch.Generator().manual_seed(seed)
    colour = torch.randint(0, 4, (n,), generator=g)
    shape = torch.randint(0, 5, (n,), generator=g)
    features = torch.cat(
        [3 * torch.eye(4)[colour], torch.randn(n, 6, generator=g)], dim=1
    ) + 0.2 * torch.randn(n, 10, generator=g)  # (n, 10)
    styles = (
        torch.full((n,), style) if style is not None else torch.randint(0, 3, (n,), generator=g)
    )
    return FeatureSet(
        features=features,
        labels=shape,
        index=torch.arange(n),
        attributes={"colour": colour, "shape": shape, "style": styles},
    )


def test_planted_attribute_is_found_and_absent_one_is_not():
    train, test = _world(400, seed=0, style=0), _world(500, seed=1)
    metrics = attributes.evaluate(train, test, ProbeConfig(C=1.0))
    assert metrics["colour/accuracy"] >= 0.98
    assert abs(metrics["shape/accuracy"] - 0.2) < 0.09  # chance on 5 values, ~5 standard errors
    assert metrics["colour/uniform_chance"] == pytest.approx(0.25)
    assert metrics["shape/n_values"] == 5.0


def test_constant_train_attribute_is_skipped_with_chance_levels():
    train, test = _world(200, seed=2, style=0), _world(300, seed=3)
    results = {r.name: r for r in attributes.probe_attributes(train, test)}
    style = results["style"]
    assert style.accuracy is None
    assert style.n_values == 3
    assert style.uniform_chance == pytest.approx(1 / 3)
    expected_majority = (test.attributes["style"] == 0).float().mean().item()
    assert style.majority_baseline == pytest.approx(expected_majority)
    assert "style/accuracy" not in attributes.evaluate(train, test)


def test_majority_baseline_matches_counter():
    train, test = _world(200, seed=4), _world(300, seed=5)
    result = attributes.probe_attribute("shape", train, test, ProbeConfig(C=1.0))
    most_common = Counter(train.attributes["shape"].tolist()).most_common(1)[0][0]
    hits = sum(v == most_common for v in test.attributes["shape"].tolist())
    assert result.majority_baseline == pytest.approx(hits / 300)


def test_missing_attribute_raises():
    train, test = _world(50, seed=6), _world(50, seed=7)
    del test.attributes["colour"]
    with pytest.raises(MMCLError, match="'colour' is missing from the test"):
        attributes.probe_attribute("colour", train, test)
    assert {r.name for r in attributes.probe_attributes(train, test)} == {"shape", "style"}
