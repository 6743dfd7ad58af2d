"""Xue vector experiments: losses vs loops, GD vs closed form, SL vs sklearn, claims logic."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.linear_model import LogisticRegression

from mmcl.data.synthetic import VectorData, XueConfig
from mmcl.errors import MMCLError
from mmcl.experiments import xue_vector as xv
from mmcl.theory.xue import linearized_minimizer


def _naive_loss(f_i, f_t, w_i, w_t, rho, negatives):
    n, total = len(f_i), 0.0
    s = [[float(f_i[i] @ f_t[j]) for j in range(n)] for i in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j:
                total += (
                    s[i][j] ** 2 / (2 * n * (n - 1))
                    if negatives == "square"
                    else s[i][j] / (n * (n - 1))
                )
    reg = float(torch.linalg.matrix_norm(w_i.T @ w_t) ** 2)
    return -sum(s[i][i] for i in range(n)) / n + total + rho / 2 * reg


@pytest.mark.parametrize("negatives", ["square", "linear"])
def test_linearized_loss_matches_double_loop(negatives):
    g = torch.Generator().manual_seed(0)
    w_i, w_t = torch.randn(3, 5, generator=g), torch.randn(3, 4, generator=g)
    x_i, x_t = torch.randn(7, 5, generator=g), torch.randn(7, 4, generator=g)
    f_i, f_t = x_i @ w_i.T, x_t @ w_t.T
    got = xv.linearized_contrastive_loss(f_i, f_t, w_i, w_t, 0.3, negatives)
    assert float(got) == pytest.approx(_naive_loss(f_i, f_t, w_i, w_t, 0.3, negatives), rel=1e-5)


def _planted(n=400, d_i=6, d_t=5, seed=0) -> VectorData:
    """Three shared latents of std 3, 2, 0.5: a clear gap after the second singular value."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3)) * np.array([3.0, 2.0, 0.5])
    x_i = z @ rng.standard_normal((3, d_i)) + 0.1 * rng.standard_normal((n, d_i))
    x_t = z @ rng.standard_normal((3, d_t)) + 0.1 * rng.standard_normal((n, d_t))
    empty = np.zeros(n)
    return VectorData(
        x_i,
        x_t,
        empty.astype(int),
        empty[:, None],
        empty[:, None],
        empty > 0,
        empty.astype(int),
        np.ones((n, 1), bool),
        np.zeros((2, d_t)),
        np.zeros((1, d_i)),
        np.zeros((1, d_i)),
    )


def test_linear_negatives_gd_reaches_the_closed_form_minimizer():
    data, rho = _planted(), 2.0
    cfg = xv.TrainConfig(rank=2, steps=600, lr=0.05, rho=rho, negatives="linear")
    enc = xv.train_linearized(data, cfg)
    learned = enc.w_text.T @ enc.w_image  # (d_T, d_I)
    closed = linearized_minimizer(data.x_image, data.x_text, 2, rho)
    # tolerance: principal angles < 0.02 rad on both sides, product within 2% (Frobenius)
    assert subspace_angles(learned.T, closed.T).max() < 0.02  # image-side row space
    assert subspace_angles(learned, closed).max() < 0.02  # text-side column space
    assert np.linalg.norm(learned - closed) < 0.02 * np.linalg.norm(closed)


def test_sl_gradient_descent_matches_sklearn_logistic_regression():
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    labels = rng.integers(0, 3, 300)
    x = centers[labels] + rng.standard_normal((300, 4))
    c = 0.1
    data = _planted(n=300, d_i=4)
    data.x_image, data.labels = x, labels
    w, b = xv.train_sl(data, xv.SLConfig(steps=800, lr=1.0, l2=1.0 / (c * len(x))), 3)
    ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x, labels)
    ours = torch.softmax(torch.as_tensor(x @ w.T + b), 1).numpy()
    np.testing.assert_allclose(ours, ref.predict_proba(x), atol=1e-3)
    np.testing.assert_array_equal(ours.argmax(1), ref.predict(x))


def test_evaluate_config_learns_the_binary_task():
    cfg = XueConfig(n=400, n_test=400, seed=1)
    records = xv.evaluate_config(cfg, xv.MMCL_LEARNERS, xv.TrainConfig(steps=60), xv.SLConfig())
    by = {r["learner"]: r for r in records}
    assert set(by) == {"svd", "linearized", "infonce", "sl"}
    for r in records:
        assert r["id_acc"] > 0.7  # well above chance in-distribution
        assert 0.0 <= r["ood_acc"] <= 1.0
    assert 0.0 <= by["svd"]["core_alignment"] <= 1.0


def _fake_results(ood) -> dict:
    """Records for every sweep; ood(experiment, value, learner) gives the OOD accuracy."""
    grid = {
        "c1": [0.95],
        "sigma_core": [0.0, 1.0, 2.0],
        "prototype": [True, False],
        "sigma_spurious": [0.05, 1.0],
        "sharing": ["all", "class0", "none"],
        "richness": [0.0, 0.5, 1.0],
        "losses": [0.95],
    }
    results = {}
    for exp, values in grid.items():
        results[exp] = [
            {
                "experiment": exp,
                "seed": seed,
                "param": "p",
                "value": v,
                "learner": learner,
                "id_acc": 0.9,
                "ood_acc": ood(exp, v, learner) + 0.01 * seed,
                "core_alignment": 0.5 + 0.1 * i,
                "zs_core_alignment": 0.5 + 0.1 * i,
            }
            for seed in (0, 1)
            for i, v in enumerate(values)
            for learner in ("svd", "sl")
        ]
    return results


def _held(rows) -> dict:
    return {r["id"]: r["held"] for r in rows}


def test_claims_follow_the_numbers():
    def supportive(exp, v, learner):
        if learner == "sl":
            return 0.4 if exp != "sigma_spurious" else (0.3 if v == 0.05 else 0.6)
        table = {
            "prototype": {True: 0.7, False: 0.5},
            "sharing": {"all": 0.8, "class0": 0.7, "none": 0.6},
            "richness": {0.0: 0.6, 0.5: 0.65, 1.0: 0.7},
            "sigma_core": {0.0: 0.4, 1.0: 0.6, 2.0: 0.7},
        }
        return table.get(exp, {}).get(v, 0.7)

    good = _fake_results(supportive)
    held = _held(xv.claims_from_results(good))
    for cid in (
        "C1/svd",
        "C2-gap/svd",
        "C2-prototype/svd",
        "A4.2/svd",
        "C3/svd",
        "C3-order/svd",
        "C4/svd",
        "C2-core_alignment/svd",
        "C8",
    ):
        assert held[cid], cid
    rows = xv.claims_from_results(good)
    assert {"id", "statement", "paper", "ours", "held", "values"} <= set(rows[0])
    assert "±" in rows[0]["ours"]  # two seeds: mean ± std

    flips = {
        "prototype": {True: False, False: True},
        "sharing": {"all": "none", "none": "all"},
        "richness": {0.0: 1.0, 1.0: 0.0},
    }

    def contrary(exp, v, learner):  # SL on top; prototype, sharing and richness reversed
        if learner == "sl":
            return 0.9
        return supportive(exp, flips.get(exp, {}).get(v, v), learner)

    bad = _fake_results(contrary)
    for r in bad["sigma_core"]:
        r["core_alignment"] = 1.0 - r["core_alignment"]
    held = _held(xv.claims_from_results(bad))
    for cid in (
        "C1/svd",
        "C2-prototype/svd",
        "C3/svd",
        "C3-order/svd",
        "C4/svd",
        "C2-core_alignment/svd",
    ):
        assert not held[cid], cid


def test_claims_need_every_sweep():
    results = _fake_results(lambda *a: 0.5)
    partial = copy.deepcopy(results)
    del partial["richness"]
    with pytest.raises(MMCLError, match="richness"):
        xv.claims_from_results(partial)


def test_unknown_scale_is_an_error():
    with pytest.raises(MMCLError, match="scale"):
        xv.sweep_c1("huge")
