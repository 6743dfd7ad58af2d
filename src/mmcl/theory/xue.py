"""Closed forms for the linear MMCL learners of Xue et al. 2024 on the vector data model.

RECON: the paper's body was not read (xue2024.md in the shared specs, section 2c). The paper's
exact loss is unknown; the spec names two linearized losses from this literature, which are
*different models with different predictions*. With G = W_T^T W_I (d_T, d_I) and
s_ij = <W_I x_I,i, W_T x_T,j> = x_T,j^T G x_I,i:

- Linear negatives (Nakada et al. 2023):
  L_lin = -(1/n) sum_i s_ii + 1/(n(n-1)) sum_{i != j} s_ij + (rho/2) ||G||_F^2
        = -<G, S_c> + (rho/2) ||G||_F^2,
  S_c the unbiased centred cross-covariance (`cross_covariance`). By Eckart-Young every rank-r
  minimizer is SVD_r(S_c) / rho (`linear_negatives_minimizer`). Zero-shot reads G^T t_k, and at
  full rank that is S_c^T t_k / rho: only the caption's core coordinate enters, so annotating
  other details cannot change it (the model predicts *no* C3/C4 effect).
- Squared negatives (spectral form, HaoChen et al. 2021):
  L_sq = -(1/n) sum_i s_ii + 1/(2n(n-1)) sum_{i != j} s_ij^2 + (rho/2) ||G||_F^2,
  whose population form -<G, S> + (1/2) tr(G^T C_T G C_I) + (rho/2) ||G||^2 (S the raw
  cross-moment, C_T, C_I the raw second moments) is minimised at full rank by the G that solves
  C_T G C_I + rho G = S (`squared_negatives_minimizer`, solved in the eigenbases of C_T and C_I).
  The finite-sample loss differs from the population form by O(1/n) (the i = j terms).
- `zero_shot_core_alignment`: the population |cos| between the linear model's zero-shot image
  direction G^T (t_1 - t_0) and the core direction, for claim C2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmcl.data.synthetic import XueConfig
from mmcl.errors import MMCLError


@dataclass
class SVDProxy:
    """Top-r SVD of the cross-covariance: G = u diag(s) v^T with u (d_T, r), s (r,), v (d_I, r)."""

    u: np.ndarray
    s: np.ndarray
    v: np.ndarray

    @property
    def product(self) -> np.ndarray:
        """G (d_T, d_I)."""
        return (self.u * self.s) @ self.v.T

    def encoders(self) -> tuple[np.ndarray, np.ndarray]:
        """Balanced factors (W_I (r, d_I), W_T (r, d_T)) with W_T^T W_I = G."""
        root = np.sqrt(self.s)[:, None]  # (r, 1)
        return root * self.v.T, root * self.u.T


def cross_covariance(x_image: np.ndarray, x_text: np.ndarray, centered: bool = True) -> np.ndarray:
    """(n, d_I), (n, d_T) -> (d_T, d_I); centred = the linear-negatives loss's S_c (see module)."""
    n = len(x_image)
    raw = x_text.T @ x_image / n  # (d_T, d_I)
    if not centered:
        return raw
    if n < 2:
        raise MMCLError("cross_covariance: centred form needs at least 2 pairs")
    return n / (n - 1) * (raw - np.outer(x_text.mean(0), x_image.mean(0)))


def svd_proxy(
    x_image: np.ndarray, x_text: np.ndarray, rank: int, centered: bool = True
) -> SVDProxy:
    """Top-`rank` SVD of the image-text cross-covariance."""
    cov = cross_covariance(x_image, x_text, centered)  # (d_T, d_I)
    if not 1 <= rank <= min(cov.shape):
        raise MMCLError(f"svd_proxy: rank must be in [1, {min(cov.shape)}], got {rank}")
    u, s, vt = np.linalg.svd(cov, full_matrices=False)
    return SVDProxy(u=u[:, :rank], s=s[:rank], v=vt[:rank].T)


def _check_rho(rho: float, name: str) -> None:
    if rho <= 0:
        raise MMCLError(f"{name}: rho must be > 0 (the loss is unbounded below), got {rho}")


def linear_negatives_minimizer(
    x_image: np.ndarray, x_text: np.ndarray, rank: int, rho: float
) -> SVDProxy:
    """SVD_r(S_c) / rho: the exact rank-r minimizer of the linear-negatives loss."""
    _check_rho(rho, "linear_negatives_minimizer")
    proxy = svd_proxy(x_image, x_text, rank, centered=True)
    return SVDProxy(proxy.u, proxy.s / rho, proxy.v)


def squared_negatives_minimizer(x_image: np.ndarray, x_text: np.ndarray, rho: float) -> np.ndarray:
    """G (d_T, d_I) solving C_T G C_I + rho G = S: the full-rank squared-negatives minimizer.

    In the eigenbases C_T = U_T diag(a) U_T^T, C_I = U_I diag(b) U_I^T the equation decouples:
    (U_T^T G U_I)_kl (a_k b_l + rho) = (U_T^T S U_I)_kl.
    """
    _check_rho(rho, "squared_negatives_minimizer")
    n = len(x_image)
    s = x_text.T @ x_image / n  # (d_T, d_I)
    a, u_t = np.linalg.eigh(x_text.T @ x_text / n)  # (d_T,), (d_T, d_T)
    b, u_i = np.linalg.eigh(x_image.T @ x_image / n)  # (d_I,), (d_I, d_I)
    return u_t @ ((u_t.T @ s @ u_i) / (np.outer(a, b) + rho)) @ u_i.T


def population_cross_moment(cfg: XueConfig) -> np.ndarray:
    """Binary task: E[z_T z_I^T] (k, k) in latent coordinates [core, spurious, nuisance...]."""
    if cfg.task != "binary":
        raise MMCLError("population_cross_moment: only XueConfig.task='binary' has a closed form")
    coupling = 2.0 * cfg.p_train - 1.0  # E[y a]
    core_core = 1.0 + cfg.sigma_core**2 if cfg.intra_class_variation else 1.0  # E[z_c,T z_c,I]
    moment = np.zeros((cfg.n_latent, cfg.n_latent))
    moment[0, 0] = core_core
    moment[0, 1] = coupling  # text core x image spurious
    moment[1, 0] = coupling * cfg.annotate_spurious  # text spurious x image core
    moment[1, 1] = (1.0 + cfg.sigma_spurious**2) * cfg.annotate_spurious
    moment[2:, 2:] = np.eye(cfg.n_nuisance) * cfg.annotate_nuisance
    return moment


def zero_shot_core_alignment(cfg: XueConfig) -> float:
    """Linear negatives, full rank: |cos(G^T (t_1 - t_0), e_core)| in latent coordinates (C2).

    G^T e_core,T is the text-core row of the population moment: (1 + sigma_c^2) on the core,
    2p - 1 on the spurious coordinate and nothing else, whatever the captions annotate.
    """
    row = population_cross_moment(cfg)[0]  # (k,)
    return float(abs(row[0]) / np.linalg.norm(row))
