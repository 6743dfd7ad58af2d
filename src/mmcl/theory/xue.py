"""Closed-form predictions for Xue et al. 2024 on the vector data model (mmcl.data.synthetic).

RECON: the paper's body was not read (see /work/shared/papers/xue2024.md). What is here is the
standard linear-encoder analysis the spec points to (Nakada et al. 2023; the same group's ICML
2023 work), not the paper's theorems:

- `cross_covariance`: S = (1/n) sum_i x_T,i x_I,i^T - 1/(n(n-1)) sum_{i != j} x_T,i x_I,j^T,
  i.e. the unbiased centred image-text cross-covariance n/(n-1) (C - mean_T mean_I^T) (or the raw
  C = (1/n) sum_i x_T,i x_I,i^T with `centered=False`).
- `svd_proxy`: its top-r SVD, standing in for W_T^T W_I of a linear MMCL model (spec 2c).
- `linearized_minimizer`: for the loss with *linear* negatives,
  L = -(1/n) sum_i s_ii + 1/(n(n-1)) sum_{i != j} s_ij + (rho/2) ||W_T^T W_I||_F^2, which equals
  -<G, S> + (rho/2)||G||^2 in G = W_T^T W_I, so by Eckart-Young every rank-r minimizer is
  G* = SVD_r(S) / rho exactly.
- `population_cross_moment` and `predicted_core_alignment`: the latent-space population version
  of S for the binary task, giving the predicted |cos| between the top learned image direction
  and the core direction (claim C2): the core entry is E[z_c^2] = 1 + sigma_c^2, the spurious
  one (1 + sigma_s^2) * P(annotated), and the core-spurious coupling E[y a] = 2p - 1.
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
        """G (d_T, d_I), the stand-in for W_T^T W_I."""
        return (self.u * self.s) @ self.v.T

    def encoders(self) -> tuple[np.ndarray, np.ndarray]:
        """Balanced factors (W_I (r, d_I), W_T (r, d_T)) with W_T^T W_I = G."""
        root = np.sqrt(self.s)[:, None]  # (r, 1)
        return root * self.v.T, root * self.u.T


def cross_covariance(x_image: np.ndarray, x_text: np.ndarray, centered: bool = True) -> np.ndarray:
    """(n, d_I), (n, d_T) -> (d_T, d_I); centred = the linear-negatives loss's S (see module)."""
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
    """Top-`rank` SVD of the image-text cross-covariance (spec 2c's CPU proxy for MMCL)."""
    cov = cross_covariance(x_image, x_text, centered)  # (d_T, d_I)
    if not 1 <= rank <= min(cov.shape):
        raise MMCLError(f"svd_proxy: rank must be in [1, {min(cov.shape)}], got {rank}")
    u, s, vt = np.linalg.svd(cov, full_matrices=False)
    return SVDProxy(u=u[:, :rank], s=s[:rank], v=vt[:rank].T)


def linearized_minimizer(
    x_image: np.ndarray, x_text: np.ndarray, rank: int, rho: float
) -> np.ndarray:
    """G* = SVD_r(S) / rho (d_T, d_I): the exact minimizer of the linear-negatives loss."""
    if rho <= 0:
        raise MMCLError(f"linearized_minimizer: rho must be > 0 (the loss is unbounded), got {rho}")
    return svd_proxy(x_image, x_text, rank, centered=True).product / rho


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


def predicted_core_alignment(cfg: XueConfig) -> float:
    """|cos| between the top right singular vector of the population moment and e_core (C2)."""
    _, _, vt = np.linalg.svd(population_cross_moment(cfg))
    return float(abs(vt[0, 0]))
