"""Xue closed forms: cross-covariance, the two linearized losses' minimizers, C2's alignment."""

from __future__ import annotations

import numpy as np
import pytest

from mmcl.data.synthetic import XueConfig, generate
from mmcl.errors import MMCLError
from mmcl.theory.xue import (
    cross_covariance,
    linear_negatives_minimizer,
    squared_negatives_minimizer,
    svd_proxy,
    zero_shot_core_alignment,
)


def _pairs(n=40, d_i=5, d_t=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(1.0, 1.0, (n, d_i)), rng.normal(-0.5, 1.0, (n, d_t))


def test_centred_cross_covariance_is_the_linear_negatives_double_sum():
    x_i, x_t = _pairs()
    n = len(x_i)
    pos = sum(np.outer(x_t[i], x_i[i]) for i in range(n)) / n
    neg = sum(np.outer(x_t[i], x_i[j]) for i in range(n) for j in range(n) if i != j)
    np.testing.assert_allclose(cross_covariance(x_i, x_t), pos - neg / (n * (n - 1)), atol=1e-12)
    np.testing.assert_allclose(cross_covariance(x_i, x_t, centered=False), pos, atol=1e-12)


def test_svd_proxy_equals_numpy_truncated_svd_of_np_cov():
    x_i, x_t = _pairs(n=60, d_i=6, d_t=5, seed=1)
    block = np.cov(x_t.T, x_i.T)[:5, 5:]  # (d_T, d_I) unbiased centred cross-covariance
    u, s, vt = np.linalg.svd(block)
    expected = u[:, :2] @ np.diag(s[:2]) @ vt[:2]
    proxy = svd_proxy(x_i, x_t, rank=2)
    np.testing.assert_allclose(proxy.product, expected, atol=1e-12)
    w_i, w_t = proxy.encoders()
    np.testing.assert_allclose(w_t.T @ w_i, expected, atol=1e-12)
    np.testing.assert_allclose(
        linear_negatives_minimizer(x_i, x_t, 2, rho=4.0).product, expected / 4.0, atol=1e-12
    )


def test_rank_and_rho_are_validated():
    x_i, x_t = _pairs()
    with pytest.raises(MMCLError, match="rank"):
        svd_proxy(x_i, x_t, rank=9)
    with pytest.raises(MMCLError, match="rho"):
        linear_negatives_minimizer(x_i, x_t, 1, rho=0.0)
    with pytest.raises(MMCLError, match="rho"):
        squared_negatives_minimizer(x_i, x_t, rho=-1.0)


def test_squared_negatives_minimizer_zeroes_the_population_gradient():
    x_i, x_t = _pairs(n=80, d_i=6, d_t=5, seed=3)
    n, rho = len(x_i), 0.7
    g = squared_negatives_minimizer(x_i, x_t, rho)  # (d_T, d_I)
    c_t, c_i, s = x_t.T @ x_t / n, x_i.T @ x_i / n, x_t.T @ x_i / n
    np.testing.assert_allclose(c_t @ g @ c_i + rho * g, s, atol=1e-10)
    # and it is not the SVD of S (the spec's earlier error)
    svd = linear_negatives_minimizer(x_i, x_t, 5, rho).product
    assert np.linalg.norm(g - svd) > 0.1 * np.linalg.norm(g)


@pytest.mark.parametrize("sigma_core", [0.25, 2.0])
def test_population_zero_shot_alignment_matches_large_sample_closed_form(sigma_core):
    cfg = XueConfig(n=20000, sigma_core=sigma_core, sigma_noise=0.0, seed=2)
    data = generate(cfg, "train")
    g = linear_negatives_minimizer(data.x_image, data.x_text, cfg.n_latent, 1.0).product
    zs = g.T @ (data.prompts[1] - data.prompts[0])  # (d_I,)
    got = abs(zs @ data.core_image_dirs[0]) / np.linalg.norm(zs)
    tolerance = 0.03  # a few / sqrt(n) of sampling error in the moments
    assert abs(got - zero_shot_core_alignment(cfg)) < tolerance


def test_predicted_alignment_rises_with_core_variance():
    preds = [zero_shot_core_alignment(XueConfig(sigma_core=s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(preds[:-1], preds[1:], strict=True))
