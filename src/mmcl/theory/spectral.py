"""Closed forms of the multimodal spectral theory on a finite world (zhang2023 1.1-1.5).

Zhang, Wang & Wang (ICML 2023, arXiv 2306.04272): with the spectral loss
L_MM = -2 E_P[f_V.f_L] + E_{p_V x p_L}[(f_V.f_L)^2] = ||P~ - F_V F_L^T||^2 - ||P~||^2, where
P~ = D_V^-1/2 P D_L^-1/2 and F_V = diag(sqrt p_V) f_V, MMCL is a rank-k asymmetric factorisation
of P~; its optimum is the truncated SVD. The same image subspace U_k is what single-modal spectral
learning finds on the text-induced image graph A_V, whose normalised form is P~ P~^T.

Everything here is exact numpy float64 on (N_V, N_L) matrices: marginals, P~ and its SVD, the
optimal embeddings and loss, A_V, the labeling errors, the generalisation bound, the exact
least-squares probe error, and subspace comparisons (principal angles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmcl.errors import MMCLError

DEGENERATE_GAP = 1e-10  # spectral gaps below this are treated as 0 (float64 SVD round-off)


def marginals(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p_V (N_V,) and p_L (N_L,): row and column sums of the joint P."""
    return P.sum(axis=1), P.sum(axis=0)


def normalized_cooccurrence(P: np.ndarray) -> np.ndarray:
    """P~ = D_V^-1/2 P D_L^-1/2, (N_V, N_L); its singular values lie in [0, 1]."""
    p_v, p_l = marginals(P)
    return P / np.sqrt(p_v)[:, None] / np.sqrt(p_l)[None, :]


@dataclass(frozen=True)
class Spectrum:
    """Thin SVD P~ = U diag(sigma) V^T, sigma descending; u_1 signed to be positive."""

    U: np.ndarray  # (N_V, r), r = min(N_V, N_L)
    sigma: np.ndarray  # (r,)
    V: np.ndarray  # (N_L, r)


def spectrum(P: np.ndarray) -> Spectrum:
    """The SVD of P~ (numpy returns singular values in descending order)."""
    U, sigma, Vt = np.linalg.svd(normalized_cooccurrence(P), full_matrices=False)
    sign = np.where(U.sum(axis=0) < 0, -1.0, 1.0)  # deterministic signs, u_1 = +sqrt(p_V)
    return Spectrum(U * sign, sigma, Vt.T * sign)


def _check_k(k: int, r: int) -> None:
    if not 1 <= k <= r:
        raise MMCLError(f"embedding dimension k = {k} must be in [1, min(N_V, N_L) = {r}]")


def optimal_weighted_embeddings(P: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """F_V* = U_k S_k^1/2 (N_V, k) and F_L* = V_k S_k^1/2 (N_L, k): a minimiser of L_MM."""
    s = spectrum(P)
    _check_k(k, len(s.sigma))
    root = np.sqrt(s.sigma[:k])  # (k,)
    return s.U[:, :k] * root, s.V[:, :k] * root


def optimal_features(P: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """f_V*(v) = F_V*[v] / sqrt(p_V(v)) (N_V, k) and f_L* likewise (N_L, k)."""
    F_v, F_l = optimal_weighted_embeddings(P, k)
    p_v, p_l = marginals(P)
    return F_v / np.sqrt(p_v)[:, None], F_l / np.sqrt(p_l)[:, None]


def optimal_loss(P: np.ndarray, k: int) -> float:
    """L_MM* = -sum_{i<=k} sigma_i^2 (Eckart-Young on the identity above)."""
    sigma = spectrum(P).sigma
    _check_k(k, len(sigma))
    return -float(np.sum(sigma[:k] ** 2))


def factorization_loss(P: np.ndarray, f_v: np.ndarray, f_l: np.ndarray) -> float:
    """||P~ - F_V F_L^T||_F^2 - ||P~||_F^2 for features f_v (N_V, k), f_l (N_L, k): equals L_MM."""
    p_v, p_l = marginals(P)
    P_tilde = normalized_cooccurrence(P)
    F_v, F_l = np.sqrt(p_v)[:, None] * f_v, np.sqrt(p_l)[:, None] * f_l
    return float(np.sum((P_tilde - F_v @ F_l.T) ** 2) - np.sum(P_tilde**2))


def induced_image_graph(P: np.ndarray) -> np.ndarray:
    """A_V(v, v+) = sum_l P(v,l) P(v+,l) / p_L(l), (N_V, N_V): the pseudo-positive pair joint.

    Pairs come from v ~ p_V, l ~ P(l|v), v+ ~ P(v+|l); symmetric with row sums p_V, and
    D_V^-1/2 A_V D_V^-1/2 = P~ P~^T.
    """
    _, p_l = marginals(P)
    return (P / p_l[None, :]) @ P.T


def pair_labeling_error(P: np.ndarray, image_labels: np.ndarray, text_labels: np.ndarray) -> float:
    """alpha_pair = P[y(v) != y(l)] over pairs; texts labelled -1 name no class and never count."""
    wrong = (image_labels[:, None] != text_labels[None, :]) & (text_labels[None, :] >= 0)
    return float(np.sum(P * wrong))


def pseudo_labeling_error(P: np.ndarray, image_labels: np.ndarray) -> float:
    """alpha_pseudo = A_V[y(v) != y(v+)] over text-induced pseudo-positive pairs."""
    wrong = image_labels[:, None] != image_labels[None, :]
    return float(np.sum(induced_image_graph(P) * wrong))


def sigma_next(P: np.ndarray, k: int) -> float:
    """sigma_{k+1} of P~ (0 when k >= min(N_V, N_L): the rank is then exhausted)."""
    sigma = spectrum(P).sigma
    return float(sigma[k]) if k < len(sigma) else 0.0


def spectral_bound(alpha: float, sigma_k1: float) -> float:
    """E(f_V*) <= 4 alpha / (1 - sigma_{k+1}^2) + 8 alpha. [recall]: HaoChen et al.'s form with
    lambda_{k+1} = 1 - sigma_{k+1}^2; the paper's exact constants are not verified (spec 1.4).

    Infinite (no guarantee) when sigma_{k+1} = 1: the graph then has more than k components, the
    optimum is not unique, and a minimiser may miss a class even with alpha = 0.
    """
    gap = 1.0 - sigma_k1**2
    return float("inf") if gap <= DEGENERATE_GAP else 4.0 * alpha / gap + 8.0 * alpha


def optimum_is_unique(P: np.ndarray, k: int) -> bool:
    """sigma_k > sigma_{k+1}: the rank-k optimum (hence col(F_V*)) is unique."""
    sigma = spectrum(P).sigma
    _check_k(k, len(sigma))
    return k == len(sigma) or bool(sigma[k - 1] - sigma[k] > DEGENERATE_GAP)


def least_squares_probe_error(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> float:
    """Weighted 0-1 error of the least-squares linear probe on one-hot labels (closed form).

    B = argmin sum_v w_v ||B^T f(v) - e_{y(v)}||^2, prediction argmax_c (B^T f(v))_c (first
    index on ties); returns sum_v w_v 1[pred != y] / sum_v w_v. features (N, k), labels (N,).
    """
    onehot = np.eye(int(labels.max()) + 1)[labels]  # (N, C)
    root = np.sqrt(weights)[:, None]  # (N, 1)
    B, *_ = np.linalg.lstsq(root * features, root * onehot, rcond=None)  # (k, C)
    wrong = np.argmax(features @ B, axis=1) != labels  # (N,)
    return float(np.sum(weights * wrong) / np.sum(weights))


def closed_form_probe_error(P: np.ndarray, image_labels: np.ndarray, k: int) -> float:
    """Probe error of f_V = D_V^-1/2 U_k (the optimal features up to an invertible map)."""
    s = spectrum(P)
    _check_k(k, len(s.sigma))
    p_v, _ = marginals(P)
    return least_squares_probe_error(s.U[:, :k] / np.sqrt(p_v)[:, None], image_labels, p_v)


def _orthonormal_basis(A: np.ndarray) -> np.ndarray:
    """Q (N, k) with col(Q) = col(A); A must have full column rank."""
    Q, R = np.linalg.qr(A)
    if np.min(np.abs(np.diag(R))) <= 1e-12 * max(np.max(np.abs(np.diag(R))), 1e-300):
        raise MMCLError("principal angles: the embedding has rank < k (a collapsed dimension)")
    return Q


def principal_cosines(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between col(A) and col(B), descending (1 = shared)."""
    cos = np.linalg.svd(_orthonormal_basis(A).T @ _orthonormal_basis(B), compute_uv=False)
    return np.clip(cos, 0.0, 1.0)


def subspace_distance(A: np.ndarray, B: np.ndarray) -> float:
    """||Q_A Q_A^T - Q_B Q_B^T||_F: 0 iff the column spaces coincide."""
    Qa, Qb = _orthonormal_basis(A), _orthonormal_basis(B)
    return float(np.linalg.norm(Qa @ Qa.T - Qb @ Qb.T))


def relative_error(value: float, reference: float) -> float:
    """|value - reference| / |reference| (absolute error when the reference is 0)."""
    scale = abs(reference) if reference != 0.0 else 1.0
    return abs(value - reference) / scale
