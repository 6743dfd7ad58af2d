"""Train spectral encoders on a finite world and compare with the closed form (zhang2023 1.5).

Encoders are `LinearEncoder`s on one-hot inputs (embedding tables), so every image/text has a free
k-dim feature, as in the theory. Four objectives, all minimised by Adam with a cosine-decayed
learning rate in float64:

- MMCL, population: `spectral_population_loss(P, f_V, f_L)` (exact expectation).
- MMCL, mini-batch: `SpectralContrastiveLoss` on (image, text) pairs sampled from P.
- SSCL, population: one shared encoder on the text-induced image graph A_V (a joint with
  marginals p_V, so the same population loss applies with f_V = f_L = f).
- SSCL, mini-batch: the estimator on pseudo-positive pairs (v, v+) sampled through a shared text.
- MMCL with linear encoders on given input features (`fit_mmcl_linear`): with full-rank inputs
  the encoder class holds every table, so it must reach the same closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mmcl.losses import SpectralContrastiveLoss, spectral_population_loss
from mmcl.models.linear import LinearEncoder
from mmcl.theory.spectral import induced_image_graph
from mmcl.theory.worlds import FiniteWorld
from mmcl.threads import torch_threads


@dataclass(frozen=True)
class FitConfig:
    """Optimiser settings; defaults converge on worlds of a few dozen items in ~1 s."""

    k: int
    steps: int = 1500
    lr: float = 0.05  # Adam peak; cosine-decayed to 0 so the iterate settles on the optimum
    batch_size: int = 512  # mini-batch objectives only
    init_std: float = 0.1  # small random init; the spectral loss has no spurious minima
    seed: int = 0


@dataclass(frozen=True)
class FitResult:
    """Learned per-item features (numpy) and the exact population loss at the end."""

    f_v: np.ndarray  # (N_V, k)
    f_l: np.ndarray | None  # (N_L, k); None for single-modal SSCL
    population_loss: float


def _table(n: int, cfg: FitConfig, generator: torch.Generator) -> LinearEncoder:
    """A LinearEncoder on one-hot inputs, re-initialised from the seeded generator."""
    encoder = LinearEncoder(n, cfg.k).double()
    with torch.no_grad():
        encoder.weight.copy_(torch.randn(cfg.k, n, generator=generator, dtype=torch.float64))
        encoder.weight.mul_(cfg.init_std)
    return encoder


def _features(encoder: LinearEncoder) -> torch.Tensor:
    n = encoder.weight.shape[1]
    return encoder(torch.eye(n, dtype=torch.float64))  # (n, k): one-hot inputs


def _optimise(params: list[torch.Tensor], loss_fn: Callable[[], torch.Tensor], cfg: FitConfig):
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    with torch_threads(1):
        for step in range(cfg.steps):
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
            optimizer.zero_grad()
            loss_fn().backward()
            optimizer.step()


def sample_pairs(P: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """n (row, column) index pairs drawn i.i.d. from the joint P (R, C) -> two (n,) long."""
    flat = torch.multinomial(P.flatten(), n, replacement=True, generator=generator)  # (n,)
    return flat // P.shape[1], flat % P.shape[1]


def sample_pseudo_pairs(
    P: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(v, v+) through a shared text: (v, l) ~ P, then v+ ~ P(. | l) = P[:, l] / p_L(l)."""
    v, l = sample_pairs(P, n, generator)
    given_text = (P / P.sum(dim=0, keepdim=True)).T  # (N_L, N_V): row l is P(v+ | l)
    v_plus = torch.multinomial(given_text[l], 1, generator=generator).squeeze(1)  # (n,)
    return v, v_plus


def _population_fit(joint: np.ndarray, shared: bool, cfg: FitConfig) -> FitResult:
    generator = torch.Generator().manual_seed(cfg.seed)
    P = torch.from_numpy(joint)
    enc_v = _table(P.shape[0], cfg, generator)
    enc_l = enc_v if shared else _table(P.shape[1], cfg, generator)
    params = list({id(p): p for e in (enc_v, enc_l) for p in e.parameters()}.values())
    _optimise(params, lambda: spectral_population_loss(P, _features(enc_v), _features(enc_l)), cfg)
    return _result(P, enc_v, None if shared else enc_l)


def _result(P: torch.Tensor, enc_v: LinearEncoder, enc_l: LinearEncoder | None) -> FitResult:
    with torch.no_grad():
        f_v = _features(enc_v)
        f_l = _features(enc_l) if enc_l is not None else f_v
        loss = float(spectral_population_loss(P, f_v, f_l))
    return FitResult(f_v.numpy(), None if enc_l is None else f_l.numpy(), loss)


def fit_mmcl_population(world: FiniteWorld, cfg: FitConfig) -> FitResult:
    """Image and text tables minimising the exact L_MM of the world."""
    return _population_fit(world.P, shared=False, cfg=cfg)


def fit_sscl_population(world: FiniteWorld, cfg: FitConfig) -> FitResult:
    """One image table minimising the SSCL spectral loss on A_V; loss is reported on A_V."""
    return _population_fit(induced_image_graph(world.P), shared=True, cfg=cfg)


def fit_mmcl_linear(
    world: FiniteWorld, x_v: np.ndarray, x_l: np.ndarray, cfg: FitConfig
) -> FitResult:
    """Linear encoders f_V(v) = W_V x_v and f_L(l) = W_L x_l on inputs x_v (N_V, d_V), x_l
    (N_L, d_L), trained on the exact L_MM; returns the encoded features of every item."""
    generator = torch.Generator().manual_seed(cfg.seed)
    P, X_v, X_l = (torch.from_numpy(a) for a in (world.P, x_v, x_l))
    enc_v, enc_l = _table(X_v.shape[1], cfg, generator), _table(X_l.shape[1], cfg, generator)
    _optimise(
        [enc_v.weight, enc_l.weight],
        lambda: spectral_population_loss(P, enc_v(X_v), enc_l(X_l)),  # (N_V, k), (N_L, k)
        cfg,
    )
    with torch.no_grad():
        f_v, f_l = enc_v(X_v), enc_l(X_l)
        loss = float(spectral_population_loss(P, f_v, f_l))
    return FitResult(f_v.numpy(), f_l.numpy(), loss)


def fit_mmcl_minibatch(world: FiniteWorld, cfg: FitConfig) -> FitResult:
    """Image and text tables trained on sampled (image, text) pairs with the unbiased estimator."""
    generator = torch.Generator().manual_seed(cfg.seed)
    P = torch.from_numpy(world.P)
    enc_v, enc_l = _table(world.n_images, cfg, generator), _table(world.n_texts, cfg, generator)
    loss = SpectralContrastiveLoss(gather=False)

    def batch_loss() -> torch.Tensor:
        v, l = sample_pairs(P, cfg.batch_size, generator)
        return loss(_features(enc_v)[v], _features(enc_l)[l])

    _optimise([enc_v.weight, enc_l.weight], batch_loss, cfg)
    return _result(P, enc_v, enc_l)


def fit_sscl_pseudo_pairs(world: FiniteWorld, cfg: FitConfig) -> FitResult:
    """One image table trained with the estimator on (v, v+) pairs sampled via shared texts."""
    generator = torch.Generator().manual_seed(cfg.seed)
    P = torch.from_numpy(world.P)
    enc = _table(world.n_images, cfg, generator)
    loss = SpectralContrastiveLoss(gather=False)

    def batch_loss() -> torch.Tensor:
        v, v_plus = sample_pseudo_pairs(P, cfg.batch_size, generator)
        f = _features(enc)  # (N_V, k)
        return loss(f[v], f[v_plus])

    _optimise([enc.weight], batch_loss, cfg)
    return _result(torch.from_numpy(induced_image_graph(world.P)), enc, None)
