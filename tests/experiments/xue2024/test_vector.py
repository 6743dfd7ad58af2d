"""Xue vector learners: losses vs loops, SGD vs closed forms, SL vs sklearn, the sweeps' records,
and the squared closed form against the spec's published numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.linear_model import LogisticRegression

from mmcl.data.synthetic import VectorData, XueConfig, generate
from mmcl.errors import MMCLError
from mmcl.experiments.xue2024 import learners as xl
from mmcl.experiments.xue2024 import vector as xv
from mmcl.experiments.xue2024.scales import VectorScale, vector_scale
from mmcl.theory.xue import linear_negatives_minimizer, squared_negatives_minimizer


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
    got = xl.linearized_contrastive_loss(f_i, f_t, w_i, w_t, 0.3, negatives)
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


def test_linear_negatives_sgd_reaches_the_svd():
    data, rho = _planted(), 2.0
    enc = xl.fit_linearized(data, "linear", 2, rho, steps=600, lr=0.05, seed=0)
    closed = linear_negatives_minimizer(data.x_image, data.x_text, 2, rho).product
    # tolerance: principal angles < 0.02 rad on both sides, product within 2% (Frobenius)
    assert subspace_angles(enc.product.T, closed.T).max() < 0.02  # image-side row space
    assert subspace_angles(enc.product, closed).max() < 0.02  # text-side column space
    assert np.linalg.norm(enc.product - closed) < 0.02 * np.linalg.norm(closed)
    assert enc.log["final_grad_norm"] < 1e-3 * enc.log["initial_grad_norm"]


def test_squared_negatives_sgd_at_full_rank_reaches_the_closed_form():
    data, rho = _planted(n=2000), 1.0
    enc = xl.fit_linearized(data, "square", 5, rho, steps=2000, lr=0.05, seed=0)
    closed = squared_negatives_minimizer(data.x_image, data.x_text, rho)
    # the SGD loss drops the i = j terms that the closed form keeps: an O(1/n) gap
    assert np.linalg.norm(enc.product - closed) < 0.02 * np.linalg.norm(closed)
    # and it is not the SVD minimizer (what the old code, following the spec's error, used)
    svd = linear_negatives_minimizer(data.x_image, data.x_text, 5, rho).product
    assert np.linalg.norm(enc.product - svd) > 0.1 * np.linalg.norm(svd)


def test_sl_gradient_descent_matches_sklearn_logistic_regression():
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    labels = rng.integers(0, 3, 300)
    x = centers[labels] + rng.standard_normal((300, 4))
    c = 0.1
    data = _planted(n=300, d_i=4)
    data.x_image, data.labels = x, labels
    w, b = xl.train_sl(data, xl.SLConfig(steps=800, lr=1.0, l2=1.0 / (c * len(x))), 3)
    ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x, labels)
    ours = torch.softmax(torch.as_tensor(x @ w.T + b), 1).numpy()
    np.testing.assert_allclose(ours, ref.predict_proba(x), atol=1e-3)
    np.testing.assert_array_equal(ours.argmax(1), ref.predict(x))


def _micro() -> VectorScale:
    return VectorScale(n=400, n_test=400, steps=60, sl_steps=100, check_steps=60, seeds=(0,))


def test_evaluate_config_learns_the_binary_task():
    cfg = XueConfig(n=400, n_test=400, seed=1)
    records = xv.evaluate_config(cfg, xv.HEADLINE + (xv.FULL_RANK_LINEAR,), _micro())
    by = {r["model"]: r for r in records}
    assert set(by) == {"linear", "squared", "infonce", "linear/full-rank", "sl"}
    assert (by["linear"]["rank"], by["linear/full-rank"]["rank"]) == (cfg.n_latent, cfg.d_image)
    for r in records:
        assert r["id_acc"] > 0.7  # well above chance in-distribution
        assert r["ood_correct"].mean() == pytest.approx(r["ood_acc"])
    assert 0.0 <= by["squared"]["zs_core_alignment"] <= 1.0
    assert by["infonce"]["log"]["final_grad_norm"] < by["infonce"]["log"]["initial_grad_norm"]


def test_sweeps_share_test_draws_so_configs_pair_by_sample():
    # every value of one seed scores the same test latents: only the swept field differs
    scale = vector_scale("tiny")
    sweep = next(s for s in xv.SWEEPS if s.name == "richness")
    a, b = (generate(xv.config_for(sweep, q, 0, scale), "ood") for q in (0.0, 1.0))
    np.testing.assert_array_equal(a.x_image, b.x_image)
    assert not np.array_equal(a.x_text, b.x_text)


def test_squared_closed_form_reproduces_the_spec_numbers():
    """Spec 2c (n = 5000, seed 0, rho = 1): C4 0.79 -> 0.86 over q, C3 0.722 > 0.719 > 0.718."""
    scale = VectorScale(n=5000, n_test=5000, steps=0, sl_steps=0, check_steps=0, seeds=(0,))
    got = {}
    for sweep in (s for s in xv.SWEEPS if s.name in ("richness", "sharing")):
        for value in sweep.values:
            cfg = xv.config_for(sweep, value, 0, scale)
            train, ood = generate(cfg, "train"), generate(cfg, "ood")
            enc = xl.squared_closed_form(train, xl.LearnerConfig(), 0)
            pred = xl.zero_shot_scores(enc, ood.x_image, ood.prompts).argmax(1)
            got[value] = float((pred == ood.labels).mean())
    assert (round(got[0.0], 2), round(got[1.0], 2)) == (0.79, 0.86)
    assert [round(got[a], 3) for a in ("all", "class0", "none")] == [0.722, 0.719, 0.718]


def test_unknown_learner_and_scale_are_errors():
    with pytest.raises(MMCLError, match="learner"):
        xl.learner("svd")
    with pytest.raises(MMCLError, match="scale"):
        vector_scale("huge")
