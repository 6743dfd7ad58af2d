"""Xue closed forms: cross-covariance, SVD proxy, population alignment prediction."""

from __future__ import annotations

import numpy as np
import pytest

from mmcl.data.synthetic import XueConfig, generate
from mmcl.errors import MMCLError
from mmcl.theory.xue import (
    cross_covariance,
    linearized_minimizer,
    predicted_core_alignment,
    svd_proxy,
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
    np.testing.assert_allclose(linearized_minimizer(x_i, x_t, 2, rho=4.0), expected / 4.0)


def test_rank_and_rho_are_validated():
    x_i, x_t = _pairs()
    with pytest.raises(MMCLError, match="rank"):
        svd_proxy(x_i, x_t, rank=9)
    with pytest.raises(MMCLError, match="rho"):
        linearized_minimizer(x_i, x_t, 1, rho=0.0)


@pytest.mark.parametrize("sigma_core", [0.25, 2.0])
def test_population_alignment_matches_large_sample_svd(sigma_core):
    cfg = XueConfig(n=10000, sigma_core=sigma_core, sigma_noise=0.0, seed=2)
    data = generate(cfg, "train")
    v = svd_proxy(data.x_image, data.x_text, rank=1).v[:, 0]
    tolerance = 0.03  # about 3 / sqrt(n)
    assert abs(abs(v @ data.core_image_dirs[0]) - predicted_core_alignment(cfg)) < tolerance


def test_predicted_alignment_rises_with_core_variance():
    preds = [predicted_core_alignment(XueConfig(sigma_core=s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(preds[:-1], preds[1:], strict=True))
