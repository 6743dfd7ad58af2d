"""The torch linear probe minimises scikit-learn's objective, so the two backends agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mmcl.errors import MMCLError
from mmcl.eval import torch_probe
from mmcl.eval.config import EvalConfig
from mmcl.eval.linear_probe import (
    LinearProbe,
    ProbeConfig,
    fit_linear_probe,
    probe_accuracy,
    resolve_backend,
)
from mmcl.eval.torch_probe import LinearWeights, Standardizer, TorchProbe


def _problem(n: int, n_classes: int, seed: int, dim: int = 20, spread: float = 1.0):
    """Overlapping Gaussian classes: means differ in 5 of `dim` features, the rest is noise, so
    accuracy and probabilities depend on C."""
    means = torch.zeros(n_classes, dim)
    means[:, :5] = torch.randn(n_classes, 5, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (n,), generator=g)
    return means[labels] + spread * torch.randn(n, dim, generator=g), labels


def _probabilities(probe: TorchProbe, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(probe.weights.logits(probe.standardize(x)), dim=1).numpy()


def _objective(x: np.ndarray, y: torch.Tensor, weight, bias, C: float) -> float:
    """torch_probe.objective in float64 of any backend's weights on standardized x."""
    weights = LinearWeights(torch.as_tensor(weight).double(), torch.as_tensor(bias).double())
    return torch_probe.objective(torch.as_tensor(x).double(), y, weights, C)


def test_validation_chooses_the_same_C_and_accuracy_as_sklearn():
    x, y = _problem(600, 4, seed=1)
    x_test, y_test = _problem(2000, 4, seed=2)
    reference = fit_linear_probe(x, y, ProbeConfig(backend="sklearn"))
    probe = fit_linear_probe(x, y, ProbeConfig(backend="torch"))
    assert isinstance(probe, TorchProbe)
    assert probe.C == reference.C == 0.1  # not the grid's first value: the sweep decided
    accuracy = probe_accuracy(probe, x_test, y_test)
    assert accuracy > 0.75  # 4 classes: chance is 0.25
    assert abs(accuracy - probe_accuracy(reference, x_test, y_test)) <= 0.01


@pytest.mark.parametrize("n_classes", [2, 4])  # 2: scikit-learn's binary objective, one logit
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_fixed_C_reaches_sklearn_probabilities_and_objective(n_classes, C):
    x, y = _problem(600, n_classes, seed=3)
    reference = fit_linear_probe(x, y, ProbeConfig(C=C, backend="sklearn"))
    probe = fit_linear_probe(x, y, ProbeConfig(C=C, backend="torch"))
    x_std = reference.scaler.transform(x.numpy()).astype(np.float64)
    exact = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(x_std, y.numpy())
    p = _probabilities(probe, x)
    # scikit-learn stops at max |gradient| 1e-4, torch at 1e-5 (float32): both near the optimum.
    assert np.abs(p - reference.classifier.predict_proba(x_std)).max() < 3e-3
    assert np.abs(p - exact.predict_proba(x_std)).max() < 1e-3
    ours = _objective(x_std, y, probe.weights.weight, probe.weights.bias, C)
    clf = reference.classifier
    assert ours <= _objective(x_std, y, clf.coef_, clf.intercept_, C) + 1e-7
    assert ours <= _objective(x_std, y, exact.coef_, exact.intercept_, C) + 1e-6


def test_objective_is_sklearns_loss_scaled_by_C_N():
    x, y = _problem(200, 3, seed=4)
    x_std = StandardScaler().fit_transform(x.numpy()).astype(np.float64)
    clf = LogisticRegression(C=0.5).fit(x_std, y.numpy())
    log_p = np.log(clf.predict_proba(x_std))[np.arange(200), y.numpy()]
    sklearn_loss = 0.5 * np.square(clf.coef_).sum() - 0.5 * log_p.sum()  # 0.5||W||^2 + C sum CE
    ours = _objective(x_std, y, clf.coef_, clf.intercept_, C=0.5)
    assert ours == pytest.approx(sklearn_loss / (0.5 * 200), rel=1e-9)


def test_chunked_objective_and_fit_equal_one_chunk(monkeypatch):
    x, y = _problem(300, 3, seed=5)
    x = Standardizer.fit(x)(x)
    with torch_probe.torch_threads(1):  # as ProbeConfig.threads: busy-waiting threads crawl
        whole = torch_probe.fit_weights(x, y, 3, C=1.0, max_iter=300)
        value = torch_probe.objective(x, y, whole, C=1.0)
        monkeypatch.setattr(torch_probe, "CHUNK_LOGITS", 3 * 64)  # 64 rows per chunk, 5 chunks
        assert torch_probe.objective(x, y, whole, C=1.0) == pytest.approx(value, rel=1e-6)
        chunked = torch_probe.fit_weights(x, y, 3, C=1.0, max_iter=300)
    assert torch.allclose(chunked.weight, whole.weight, atol=1e-3)
    assert torch.equal(
        torch_probe.predict_indices(chunked, x), torch_probe.predict_indices(whole, x)
    )


def test_standardizer_matches_standard_scaler_and_keeps_constant_features():
    x, _ = _problem(300, 3, seed=6)
    x = torch.cat([x * 3 + 1, torch.full((300, 1), 7.0)], dim=1)
    ours, theirs = Standardizer.fit(x), StandardScaler().fit(x.numpy())
    assert np.allclose(ours.mean.numpy(), theirs.mean_, rtol=1e-5, atol=1e-5)
    assert np.allclose(ours.scale.numpy(), theirs.scale_, rtol=1e-5)
    assert ours.scale[-1] == 1.0  # constant: centred, not divided by zero


def test_predicts_the_train_labels_not_their_indices():
    x, y = _problem(300, 2, seed=7, spread=0.3)
    probe = fit_linear_probe(x, y * 4 + 3, ProbeConfig(backend="torch"))  # labels 3 and 7
    assert list(probe.classes) == [3, 7]
    assert probe_accuracy(probe, x.numpy(), y * 4 + 3) > 0.95  # numpy features work too


def test_auto_keeps_sklearn_on_the_cpu_and_picks_torch_on_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    x, y = _problem(600, 4, seed=8)
    auto = fit_linear_probe(x, y, ProbeConfig(C=0.1))
    explicit = fit_linear_probe(x, y, ProbeConfig(C=0.1, backend="sklearn"))
    assert isinstance(auto, LinearProbe)
    assert np.array_equal(auto.classifier.coef_, explicit.classifier.coef_)
    assert resolve_backend(ProbeConfig(backend="torch")) == "torch"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend(ProbeConfig()) == "torch"
    assert resolve_backend(ProbeConfig(backend="sklearn")) == "sklearn"


def test_a_bad_backend_name_is_refused_naming_the_field():
    x, y = _problem(100, 2, seed=9)
    with pytest.raises(MMCLError, match=r"ProbeConfig\.backend.*'gpu'.*auto, sklearn, torch"):
        fit_linear_probe(x, y, ProbeConfig(backend="gpu"))
    with pytest.raises(MMCLError, match=r"eval\.probe_backend.*did you mean 'torch'"):
        EvalConfig(probe_backend="trch").validate()
    EvalConfig(probe_backend="torch").validate()
