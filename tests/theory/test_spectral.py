"""Closed forms of mmcl.theory.spectral against naive loops and library versions (zhang2023)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.linear_model import LinearRegression

from mmcl.errors import MMCLError
from mmcl.losses import spectral_population_loss
from mmcl.theory import spectral as sp
from mmcl.theory.training import (
    FitConfig,
    fit_mmcl_linear,
    fit_mmcl_population,
    fit_sscl_population,
    sample_pseudo_pairs,
)
from mmcl.theory.worlds import (
    augmentation_worlds,
    class_structured_world,
    from_attributes,
    world_from_matrix,
)


def _random_world(seed: int, n_v: int = 10, n_l: int = 8, n_classes: int = 3):
    rng = np.random.default_rng(seed)
    P = rng.random((n_v, n_l)) ** 3 + 1e-4
    labels_v, labels_l = rng.integers(0, n_classes, n_v), rng.integers(0, n_classes, n_l)
    return world_from_matrix(P / P.sum(), labels_v, labels_l)


def _naive_mm_loss(P, f_v, f_l):
    """The definition term by term: -2 E_P[f.g] + E_{v ~ p_V, l' ~ p_L}[(f.g)^2]."""
    p_v, p_l = P.sum(axis=1), P.sum(axis=0)
    total = 0.0
    for v in range(P.shape[0]):
        for l in range(P.shape[1]):
            score = float(f_v[v] @ f_l[l])
            total += -2.0 * P[v, l] * score + p_v[v] * p_l[l] * score**2
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_factorization_identity(seed):
    world = _random_world(seed)
    rng = np.random.default_rng(100 + seed)
    f_v, f_l = rng.normal(size=(10, 4)), rng.normal(size=(8, 4))
    torch_loss = float(spectral_population_loss(*map(torch.from_numpy, (world.P, f_v, f_l))))
    P_tilde = sp.normalized_cooccurrence(world.P)
    F_v = np.sqrt(world.p_v)[:, None] * f_v
    F_l = np.sqrt(world.p_l)[:, None] * f_l
    rhs = np.sum((P_tilde - F_v @ F_l.T) ** 2)
    assert abs(torch_loss + np.sum(P_tilde**2) - rhs) < 1e-10
    assert abs(_naive_mm_loss(world.P, f_v, f_l) - torch_loss) < 1e-10
    assert abs(sp.factorization_loss(world.P, f_v, f_l) - torch_loss) < 1e-10


@pytest.mark.parametrize("seed", [0, 3])
def test_top_singular_pair(seed):
    world = _random_world(seed)
    s = sp.spectrum(world.P)
    assert abs(s.sigma[0] - 1.0) < 1e-12
    assert np.all(s.sigma <= 1.0 + 1e-12)
    np.testing.assert_allclose(s.U[:, 0], np.sqrt(world.p_v), atol=1e-12)
    np.testing.assert_allclose(s.V[:, 0], np.sqrt(world.p_l), atol=1e-12)


def test_closed_form_optimum_beats_perturbations():
    world, k = _random_world(4), 3
    f_v, f_l = sp.optimal_features(world.P, k)
    best = sp.optimal_loss(world.P, k)
    assert abs(sp.factorization_loss(world.P, f_v, f_l) - best) < 1e-12
    rng = np.random.default_rng(0)
    for _ in range(5):
        noisy = f_v + 0.01 * rng.normal(size=f_v.shape)
        assert sp.factorization_loss(world.P, noisy, f_l) > best


def test_learned_factorization_matches_truncated_svd():
    """Tolerances: principal-angle cosines > 0.999 and loss within 1e-4 relative."""
    world, k = _random_world(2), 3
    sigma = sp.spectrum(world.P).sigma
    assert sigma[k - 1] - sigma[k] > 0.02  # the subspace is well defined
    result = fit_mmcl_population(world, FitConfig(k=k, steps=800))
    assert sp.relative_error(result.population_loss, sp.optimal_loss(world.P, k)) < 1e-4
    F_v = np.sqrt(world.p_v)[:, None] * result.f_v
    assert sp.principal_cosines(F_v, sp.spectrum(world.P).U[:, :k]).min() > 0.999
    F_l = np.sqrt(world.p_l)[:, None] * result.f_l
    assert sp.principal_cosines(F_l, sp.spectrum(world.P).V[:, :k]).min() > 0.999


def test_sscl_on_induced_graph_finds_u_k():
    world, k = _random_world(2), 3
    result = fit_sscl_population(world, FitConfig(k=k, steps=800))
    sigma = sp.spectrum(world.P).sigma
    assert sp.relative_error(result.population_loss, -np.sum(sigma[:k] ** 4)) < 1e-4
    F = np.sqrt(world.p_v)[:, None] * result.f_v
    assert sp.subspace_distance(F, sp.spectrum(world.P).U[:, :k]) < 1e-3


def test_induced_graph_against_loop_and_spectrum():
    world = _random_world(6)
    P, p_l = world.P, world.p_l
    n = world.n_images
    naive = np.array(
        [
            [sum(P[v, l] * P[w, l] / p_l[l] for l in range(P.shape[1])) for w in range(n)]
            for v in range(n)
        ]
    )
    A = sp.induced_image_graph(P)
    np.testing.assert_allclose(A, naive, atol=1e-14)
    np.testing.assert_allclose(A, A.T, atol=1e-15)
    np.testing.assert_allclose(A.sum(axis=1), world.p_v, atol=1e-14)
    P_tilde = sp.normalized_cooccurrence(P)
    eig = np.sort(np.linalg.eigvalsh(P_tilde @ P_tilde.T))[::-1][: P.shape[1]]
    np.testing.assert_allclose(eig, sp.spectrum(P).sigma ** 2, atol=1e-12)


def test_pseudo_pair_sampler_follows_induced_graph():
    world = _random_world(7, n_v=5, n_l=4)
    v, v_plus = sample_pseudo_pairs(
        torch.from_numpy(world.P), 200_000, torch.Generator().manual_seed(0)
    )
    counts = np.zeros((5, 5))
    np.add.at(counts, (v.numpy(), v_plus.numpy()), 1.0)
    np.testing.assert_allclose(counts / counts.sum(), sp.induced_image_graph(world.P), atol=4e-3)


def test_labeling_errors_against_loops_and_union_bound():
    for seed in range(8):
        world = _random_world(seed)
        y_v, y_l, P = world.image_labels, world.text_labels, world.P
        pair = sum(P[v, l] for v in range(10) for l in range(8) if y_v[v] != y_l[l])
        A = sp.induced_image_graph(P)
        pseudo = sum(A[v, w] for v in range(10) for w in range(10) if y_v[v] != y_v[w])
        assert abs(sp.pair_labeling_error(P, y_v, y_l) - pair) < 1e-12
        assert abs(sp.pseudo_labeling_error(P, y_v) - pseudo) < 1e-12
        assert pseudo <= 2 * pair + 1e-12
    world = from_attributes([3, 2, 2], [1.0, 0.5, 0.3], caption_noise=0.2)
    pair = sp.pair_labeling_error(world.P, world.image_labels, world.text_labels)
    assert sp.pseudo_labeling_error(world.P, world.image_labels) <= 2 * pair + 1e-12


def test_block_diagonal_sanity_case():
    rng = np.random.default_rng(0)
    C, sizes_v, sizes_l = 3, [4, 3, 5], [3, 4, 2]
    P = scipy.linalg.block_diag(
        *[rng.random((a, b)) + 0.1 for a, b in zip(sizes_v, sizes_l, strict=True)]
    )
    world = world_from_matrix(
        P / P.sum(), np.repeat(np.arange(C), sizes_v), np.repeat(np.arange(C), sizes_l)
    )
    sigma = sp.spectrum(world.P).sigma
    assert np.sum(np.abs(sigma - 1.0) < 1e-10) == C
    assert sigma[C] < 1.0 - 1e-3
    assert sp.pair_labeling_error(world.P, world.image_labels, world.text_labels) == 0.0
    assert sp.pseudo_labeling_error(world.P, world.image_labels) == 0.0
    for k in range(C, len(sigma) + 1):
        assert sp.closed_form_probe_error(world.P, world.image_labels, k) == 0.0
    assert sp.closed_form_probe_error(world.P, world.image_labels, 1) > 0.0
    assert sp.spectral_bound(0.0, sp.sigma_next(world.P, C)) == 0.0
    assert sp.spectral_bound(0.0, sp.sigma_next(world.P, C - 1)) == np.inf
    # images and texts independent given the class: the spectrum stops after C
    blocks = [
        np.outer(rng.random(a) + 0.1, rng.random(b) + 0.1)
        for a, b in zip(sizes_v, sizes_l, strict=True)
    ]
    indep = scipy.linalg.block_diag(*blocks)
    assert sp.sigma_next(indep / indep.sum(), C) < 1e-10


def test_least_squares_probe_matches_sklearn():
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(40, 3)), rng.integers(0, 4, 40)
    weights = rng.random(40)
    onehot = np.eye(4)[labels]
    reg = LinearRegression(fit_intercept=False).fit(features, onehot, sample_weight=weights)
    wrong = reg.predict(features).argmax(axis=1) != labels
    expected = np.sum(weights * wrong) / weights.sum()
    assert abs(sp.least_squares_probe_error(features, labels, weights) - expected) < 1e-12


def test_principal_cosines_match_scipy():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    expected = np.sort(np.cos(scipy.linalg.subspace_angles(A, B)))[::-1]
    np.testing.assert_allclose(sp.principal_cosines(A, B), expected, atol=1e-12)
    assert sp.subspace_distance(A, A @ rng.normal(size=(3, 3))) < 1e-10
    with pytest.raises(MMCLError, match="rank"):
        sp.principal_cosines(np.ones((12, 2)), B)


def test_world_validation_messages():
    good = np.full((2, 2), 0.25)
    with pytest.raises(MMCLError, match="negative"):
        world_from_matrix([[0.5, -0.1], [0.3, 0.3]], [0, 1])
    with pytest.raises(MMCLError, match="sums to"):
        world_from_matrix(good * 2, [0, 1])
    with pytest.raises(MMCLError, match="rows"):
        world_from_matrix([[0.0, 0.0], [0.5, 0.5]], [0, 1])
    with pytest.raises(MMCLError, match="columns"):
        world_from_matrix([[0.5, 0.0], [0.5, 0.0]], [0, 1])
    with pytest.raises(MMCLError, match="image_labels"):
        world_from_matrix(good, [0, 1, 2])
    with pytest.raises(MMCLError, match="cross_class_noise"):
        class_structured_world(3, 2, 2, cross_class_noise=1.5)


def test_from_attributes_closed_form_noise():
    """Label named always, wrong with prob eta: alpha_pair = eta; every partial tuple occurs."""
    world = from_attributes([3, 2], [1.0, 0.4], caption_noise=0.25)
    assert world.P.shape == (6, 3 * 3)
    np.testing.assert_allclose(world.p_v, np.full(6, 1 / 6), atol=1e-15)
    alpha = sp.pair_labeling_error(world.P, world.image_labels, world.text_labels)
    assert abs(alpha - 0.25) < 1e-12
    rich = from_attributes([3, 2], [0.5, 0.4])
    assert np.sum(rich.text_labels == -1) == 3  # captions silent on the class
    assert sp.pair_labeling_error(rich.P, rich.image_labels, rich.text_labels) == 0.0


def test_class_world_noise_is_alpha_pair():
    world = class_structured_world(4, 5, 3, cross_class_noise=0.15, seed=2)
    alpha = sp.pair_labeling_error(world.P, world.image_labels, world.text_labels)
    assert abs(alpha - 0.15) < 1e-12


def test_augmentation_worlds_share_views():
    base = class_structured_world(3, 3, 2, cross_class_noise=0.1, seed=0)
    mmcl, sscl = augmentation_worlds(base, views_per_image=2, overlap=0.0)
    np.testing.assert_allclose(mmcl.p_v, sscl.p_v, atol=1e-15)
    assert np.sum(sp.spectrum(sscl.P).sigma > 1 - 1e-10) == base.n_images  # one per natural
    _, linked = augmentation_worlds(base, views_per_image=2, overlap=0.1)
    assert sp.spectrum(linked.P).sigma[1] < 1 - 1e-6


def test_linear_encoders_on_full_rank_inputs_reach_the_truncated_svd():
    """Tolerances: loss within 1e-3 relative, principal angles below ~2.6 deg (cos > 0.999)."""
    world, k = _random_world(2), 3
    rng = np.random.default_rng(5)
    x_v = np.linalg.qr(rng.normal(size=(10, 10)))[0] @ np.diag(rng.uniform(0.5, 2.0, 10))
    x_l = np.linalg.qr(rng.normal(size=(8, 8)))[0] @ np.diag(rng.uniform(0.5, 2.0, 8))
    result = fit_mmcl_linear(world, x_v, x_l, FitConfig(k=k, steps=1500))
    assert sp.relative_error(result.population_loss, sp.optimal_loss(world.P, k)) < 1e-3
    F_v = np.sqrt(world.p_v)[:, None] * result.f_v
    assert sp.principal_cosines(F_v, sp.spectrum(world.P).U[:, :k]).min() > 0.999
