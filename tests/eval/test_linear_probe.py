from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmcl.errors import MMCLError
from mmcl.eval import linear_probe
from mmcl.eval.features import FeatureSet
from mmcl.eval.linear_probe import ProbeConfig, fit_linear_probe, probe_accuracy


def _blobs(n: int, n_classes: int, dim: int, spread: float, seed: int):
    """Gaussian clusters around fixed class means (seed 0) with per-call noise."""
    means = torch.randn(n_classes, dim, generator=torch.Generator().manual_seed(0)) * 4
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (n,), generator=g)
    return means[labels] + spread * torch.randn(n, dim, generator=g), labels


def test_separable_features_are_probed_almost_perfectly():
    x_train, y_train = _blobs(300, 3, 16, 0.3, seed=1)
    x_test, y_test = _blobs(200, 3, 16, 0.3, seed=2)
    probe = fit_linear_probe(x_train, y_train)
    assert probe.C in ProbeConfig().C_grid
    assert probe_accuracy(probe, x_test, y_test) >= 0.99


def test_random_labels_give_chance_on_fresh_data():
    g = torch.Generator().manual_seed(3)
    x_train, y_train = torch.randn(400, 16, generator=g), torch.randint(0, 4, (400,), generator=g)
    x_test, y_test = torch.randn(1000, 16, generator=g), torch.randint(0, 4, (1000,), generator=g)
    probe = fit_linear_probe(x_train, y_train)
    assert abs(probe_accuracy(probe, x_test, y_test) - 0.25) < 0.07  # 5 standard errors


def test_fixed_C_matches_sklearn_pipeline():
    x, y = _blobs(200, 4, 8, 3.0, seed=4)  # overlapping clusters: predictions depend on C
    x_test, _ = _blobs(300, 4, 8, 3.0, seed=5)
    probe = fit_linear_probe(x, y, ProbeConfig(C=0.05))
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=300))
    reference.fit(x.numpy(), y.numpy())
    assert probe.C == 0.05
    assert np.array_equal(probe.predict(x_test), reference.predict(x_test.numpy()))


def test_single_value_grid_equals_fixed_C():
    x, y = _blobs(200, 3, 8, 3.0, seed=6)
    swept = fit_linear_probe(x, y, ProbeConfig(C_grid=(0.1,)))
    fixed = fit_linear_probe(x, y, ProbeConfig(C=0.1))
    assert swept.C == 0.1
    assert np.allclose(swept.classifier.coef_, fixed.classifier.coef_, atol=1e-3)


def test_evaluate_fits_once_scores_every_split_and_skips_unknown_labels():
    x, y = _blobs(200, 3, 8, 0.3, seed=7)
    y[:10] = -1  # unknown labels must not become a class
    train = FeatureSet(x, y, torch.arange(200))
    shifted_x, shifted_y = _blobs(100, 3, 8, 0.3, seed=8)
    tests = {
        "id": FeatureSet(*_blobs(100, 3, 8, 0.3, seed=9), torch.arange(100)),
        "shift": FeatureSet(shifted_x + 100.0, shifted_y, torch.arange(100)),  # far off-support
    }
    metrics = linear_probe.evaluate(train, tests)
    assert set(metrics) == {"C", "id/accuracy", "shift/accuracy"}
    assert metrics["id/accuracy"] >= 0.99
    assert metrics["shift/accuracy"] < metrics["id/accuracy"]


def test_degenerate_inputs_raise():
    with pytest.raises(MMCLError, match="two classes"):
        fit_linear_probe(torch.randn(10, 3), torch.zeros(10, dtype=torch.long))
    with pytest.raises(MMCLError, match="feature rows"):
        fit_linear_probe(torch.randn(10, 3), torch.zeros(9, dtype=torch.long))


def test_class_seen_only_in_the_validation_part_still_gets_a_probe():
    x, y = _blobs(60, 3, 8, 0.3, seed=3)
    x, y = torch.cat([x, x[:1] + 10]), torch.cat([y, torch.tensor([3])])  # class 3: one sample
    for seed in range(4):  # some split puts the lone sample in the validation part
        probe = fit_linear_probe(x, y, ProbeConfig(val_fraction=0.5, seed=seed))
        assert list(probe.classifier.classes_) == [0, 1, 2, 3]
