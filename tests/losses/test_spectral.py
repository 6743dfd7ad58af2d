"""Spectral contrastive loss: factorisation identity, exact unbiasedness, loop reference."""

from __future__ import annotations

import itertools

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.losses import SpectralContrastiveLoss, spectral_population_loss


def _world(n_v: int = 3, n_l: int = 2, k: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    P = torch.rand(n_v, n_l, generator=g, dtype=torch.float64) + 0.1
    P = P / P.sum()  # (N_V, N_L) joint pair distribution
    f_v = torch.randn(n_v, k, generator=g, dtype=torch.float64)
    f_l = torch.randn(n_l, k, generator=g, dtype=torch.float64)
    return P, f_v, f_l


def test_population_loss_equals_factorisation_identity():
    P, f_v, f_l = _world(n_v=5, n_l=4, k=3)
    p_v, p_l = P.sum(1), P.sum(0)
    P_tilde = P / torch.sqrt(p_v[:, None] * p_l[None, :])
    F_v = p_v.sqrt()[:, None] * f_v  # (N_V, k) weighted embedding matrix
    F_l = p_l.sqrt()[:, None] * f_l  # (N_L, k)
    identity = (P_tilde - F_v @ F_l.T).square().sum() - P_tilde.square().sum()
    torch.testing.assert_close(spectral_population_loss(P, f_v, f_l), identity, atol=1e-12, rtol=0)


def test_optimum_is_minus_sum_of_top_k_squared_singular_values():
    P, _, _ = _world(n_v=4, n_l=4, k=2, seed=1)
    p_v, p_l = P.sum(1), P.sum(0)
    U, S, Vh = torch.linalg.svd(P / torch.sqrt(p_v[:, None] * p_l[None, :]))
    k = 2
    f_v = U[:, :k] * S[:k].sqrt() / p_v.sqrt()[:, None]  # F_V* = U_k S_k^1/2, unweighted
    f_l = Vh[:k].T * S[:k].sqrt() / p_l.sqrt()[:, None]
    torch.testing.assert_close(spectral_population_loss(P, f_v, f_l), -(S[:k] ** 2).sum())


@pytest.mark.parametrize("batch", [2, 3])
def test_minibatch_estimator_is_exactly_unbiased(batch):
    """Enumerate every batch of i.i.d. pairs on a tiny world and weight by its probability."""
    P, f_v, f_l = _world()
    pairs = [(v, l) for v in range(P.shape[0]) for l in range(P.shape[1])]
    loss, expectation = SpectralContrastiveLoss(), torch.zeros((), dtype=torch.float64)
    for combo in itertools.product(pairs, repeat=batch):
        prob = torch.stack([P[v, l] for v, l in combo]).prod()
        v_idx, l_idx = (torch.tensor(ix) for ix in zip(*combo, strict=True))
        expectation = expectation + prob * loss(f_v[v_idx], f_l[l_idx])
    torch.testing.assert_close(expectation, spectral_population_loss(P, f_v, f_l))


def test_estimator_matches_loop_reference():
    g = torch.Generator().manual_seed(4)
    f_v, f_l = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    b = len(f_v)
    ref = -2.0 / b * sum(f_v[i] @ f_l[i] for i in range(b))
    ref = ref + sum((f_v[i] @ f_l[j]) ** 2 for i in range(b) for j in range(b) if i != j) / (
        b * (b - 1)
    )
    torch.testing.assert_close(SpectralContrastiveLoss()(f_v, f_l), ref)


def test_single_pair_is_a_user_error():
    with pytest.raises(MMCLError, match="at least 2"):
        SpectralContrastiveLoss()(torch.ones(1, 2), torch.ones(1, 2))
