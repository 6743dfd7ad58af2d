"""The vector learners of Xue et al. 2024's reconstruction: two linearized losses, InfoNCE, SL.

RECON (xue2024.md in the shared specs, section 2c): the paper's loss is unknown, so each
candidate is its own model with its own prediction. Every MMCL learner returns linear encoders
W_I (r, d_I), W_T (r, d_T); zero-shot reads G = W_T^T W_I.

- "linear": linear negatives (Nakada et al. 2023), closed form SVD_r(S_c) / rho
  (`mmcl.theory.xue.linear_negatives_minimizer`). Headline rank r = the number of latent
  coordinates; lower ranks are truncation ablations.
- "squared": squared negatives (spectral form), closed form at full rank
  (`mmcl.theory.xue.squared_negatives_minimizer`): W_I = G, W_T = I.
- "squared-sgd": squared negatives by full-batch Adam at a truncated rank (ablations only).
- "infonce": CLIP's symmetric InfoNCE (`mmcl.losses.ClipLoss`) on L2-normalised features,
  fixed temperature, mini-batch Adam at rank r = the number of latent coordinates.
`fit_linearized` runs full-batch Adam on either linearized loss; the checks compare it with the
closed forms and log its final loss and gradient norm. SL: a linear softmax classifier on x_image
trained by full-batch gradient descent from zero for a fixed budget (spec 2c).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmcl.data.synthetic import VectorData
from mmcl.errors import MMCLError
from mmcl.losses import ClipLoss
from mmcl.registry import Registry, unknown_name_message
from mmcl.theory.xue import linear_negatives_minimizer, squared_negatives_minimizer
from mmcl.threads import torch_threads

NEGATIVES = ("square", "linear")


@dataclass
class LearnerConfig:
    """One MMCL learner's settings (RECON choices, not the paper's)."""

    rank: int | None = None  # r; None: the number of latent coordinates (headline)
    rho: float = 1.0  # weight of (rho/2) ||W_T^T W_I||_F^2 (linearized losses)
    steps: int = 300  # InfoNCE Adam steps
    lr: float = 0.05
    temperature: float = 0.5  # InfoNCE
    batch_size: int = 256  # InfoNCE
    seed: int = 0


@dataclass
class SLConfig:
    """Supervised baseline: full-batch gradient descent from zero on mean cross-entropy."""

    steps: int = 300
    lr: float = 0.5
    l2: float = 0.0  # adds (l2/2) ||W||_F^2 (bias unpenalised), as sklearn with C = 1/(l2 n)


@dataclass
class Encoders:
    """Learned linear towers; `cosine` scores normalised embeddings (InfoNCE), else raw dots."""

    w_image: np.ndarray  # (r, d_I)
    w_text: np.ndarray  # (r, d_T)
    cosine: bool = False
    log: dict = field(default_factory=dict)  # optimisation log (final loss, gradient norm)

    @property
    def product(self) -> np.ndarray:
        """G = W_T^T W_I (d_T, d_I)."""
        return self.w_text.T @ self.w_image


Learner = Callable[[VectorData, LearnerConfig, int], Encoders]  # (train data, config, rank)
LossFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (W_I, W_T, x_I, x_T) -> loss
LEARNERS: Registry[Learner] = Registry("xue learner")


def learner(name: str) -> Learner:
    if name not in LEARNERS:
        raise MMCLError(unknown_name_message("xue learner", name, LEARNERS.names()))
    return LEARNERS.get(name)


@LEARNERS.register("linear")
def linear_closed_form(data: VectorData, cfg: LearnerConfig, rank: int) -> Encoders:
    """Linear negatives: balanced factors of SVD_r(S_c) / rho."""
    w_image, w_text = linear_negatives_minimizer(
        data.x_image, data.x_text, rank, cfg.rho
    ).encoders()
    return Encoders(w_image, w_text)


@LEARNERS.register("squared")
def squared_closed_form(data: VectorData, cfg: LearnerConfig, rank: int) -> Encoders:
    """Squared negatives at full rank (`rank` is not used: the closed form has rank d)."""
    g = squared_negatives_minimizer(data.x_image, data.x_text, cfg.rho)  # (d_T, d_I)
    return Encoders(g, np.eye(len(g)))


@LEARNERS.register("infonce")
def train_infonce(data: VectorData, cfg: LearnerConfig, rank: int) -> Encoders:
    """Mini-batch Adam on CLIP's InfoNCE with logit scale 1 / temperature (fixed)."""
    clip, scale = ClipLoss(gather=False), torch.tensor(1.0 / cfg.temperature)

    def loss(w_i: Tensor, w_t: Tensor, x_i: Tensor, x_t: Tensor) -> Tensor:
        return clip(F.normalize(x_i @ w_i.T, dim=-1), F.normalize(x_t @ w_t.T, dim=-1), scale)

    enc = _adam(data, rank, cfg.seed, loss, cfg.steps, cfg.lr, cfg.batch_size, torch.float32)
    enc.cosine = True
    return enc


@LEARNERS.register("squared-sgd")
def squared_sgd(data: VectorData, cfg: LearnerConfig, rank: int) -> Encoders:
    """Squared negatives by full-batch Adam at rank r (the only route below full rank)."""
    return fit_linearized(data, "square", rank, cfg.rho, cfg.steps, cfg.lr, cfg.seed)


def linearized_contrastive_loss(
    f_image: Tensor, f_text: Tensor, w_image: Tensor, w_text: Tensor, rho: float, negatives: str
) -> Tensor:
    """L_lin or L_sq (module `mmcl.theory.xue`) on features (n, r), without n x n matrices."""
    n = len(f_image)
    paired = (f_image * f_text).sum(1)  # (n,) s_ii
    if negatives == "square":  # sum_{i,j} s_ij^2 = <F_I^T F_I, F_T^T F_T>
        off = ((f_image.T @ f_image) * (f_text.T @ f_text)).sum() - paired.square().sum()
        negative = off / (2 * n * (n - 1))
    elif negatives == "linear":
        negative = (f_image.sum(0) @ f_text.sum(0) - paired.sum()) / (n * (n - 1))
    else:
        raise MMCLError(unknown_name_message("negatives", negatives, NEGATIVES))
    reg = ((w_image @ w_image.T) * (w_text @ w_text.T)).sum()  # ||W_T^T W_I||_F^2
    return -paired.mean() + negative + rho / 2 * reg


def fit_linearized(
    data: VectorData, negatives: str, rank: int, rho: float, steps: int, lr: float, seed: int
) -> Encoders:
    """Full-batch Adam on `linearized_contrastive_loss` (the checks' SGD runs)."""

    def loss(w_i: Tensor, w_t: Tensor, x_i: Tensor, x_t: Tensor) -> Tensor:
        return linearized_contrastive_loss(x_i @ w_i.T, x_t @ w_t.T, w_i, w_t, rho, negatives)

    return _adam(data, rank, seed, loss, steps, lr, None)


def _adam(
    data: VectorData,
    rank: int,
    seed: int,
    loss_fn: LossFn,
    steps: int,
    lr: float,
    batch: int | None,
    dtype: torch.dtype = torch.float64,
) -> Encoders:
    """Adam from a small random start, learning rate decayed to 0 (cosine); logs the full-data
    loss and gradient norm at the start and the end (convergence is judged on their ratio)."""
    with torch_threads(1):
        g = torch.Generator().manual_seed(seed)
        x_i = torch.as_tensor(data.x_image, dtype=dtype)  # (n, d_I)
        x_t = torch.as_tensor(data.x_text, dtype=dtype)  # (n, d_T)
        w_i = (0.1 * torch.randn(rank, x_i.shape[1], generator=g, dtype=dtype)).requires_grad_()
        w_t = (0.1 * torch.randn(rank, x_t.shape[1], generator=g, dtype=dtype)).requires_grad_()
        start = _full_data_log(loss_fn, w_i, w_t, x_i, x_t, batch)
        opt = torch.optim.Adam([w_i, w_t], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            idx = slice(None) if batch is None else torch.randint(len(x_i), (batch,), generator=g)
            opt.zero_grad()
            loss_fn(w_i, w_t, x_i[idx], x_t[idx]).backward()
            opt.step()
            sched.step()
        end = _full_data_log(loss_fn, w_i, w_t, x_i, x_t, batch)
    log = {"steps": steps, "initial_loss": start["loss"], "initial_grad_norm": start["grad_norm"]}
    log |= {"final_loss": end["loss"], "final_grad_norm": end["grad_norm"]}
    return Encoders(w_i.detach().double().numpy(), w_t.detach().double().numpy(), log=log)


def _full_data_log(
    loss_fn: LossFn, w_i: Tensor, w_t: Tensor, x_i: Tensor, x_t: Tensor, batch: int | None
) -> dict:
    """Loss and gradient norm on the full data (mean over batches of `batch` if given)."""
    w_i.grad, w_t.grad = None, None
    n = len(x_i)
    size = n if batch is None or batch >= n else batch
    chunks = [slice(k, k + size) for k in range(0, n - size + 1, size)]
    total = sum(loss_fn(w_i, w_t, x_i[c], x_t[c]) for c in chunks) / len(chunks)
    total.backward()
    grad = torch.cat([w_i.grad.reshape(-1), w_t.grad.reshape(-1)])
    w_i.grad, w_t.grad = None, None
    return {"loss": float(total.detach()), "grad_norm": float(grad.norm())}


def train_sl(data: VectorData, cfg: SLConfig, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear softmax regression on x_image from zero: (W (C, d_I), b (C,)) after cfg.steps GD."""
    x = torch.as_tensor(data.x_image, dtype=torch.float64)  # (n, d_I)
    y = torch.as_tensor(data.labels)
    w = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=cfg.lr)
    with torch_threads(1):
        for _ in range(cfg.steps):
            opt.zero_grad()
            loss = F.cross_entropy(x @ w.T + b, y) + cfg.l2 / 2 * w.square().sum()  # logits (n, C)
            loss.backward()
            opt.step()
    return w.detach().numpy(), b.detach().numpy()


def zero_shot_scores(enc: Encoders, x_image: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """(n, C) scores <W_I x, W_T t_k>, on normalised embeddings when enc.cosine."""
    img, txt = x_image @ enc.w_image.T, prompts @ enc.w_text.T  # (n, r), (C, r)
    if enc.cosine:
        img = img / np.linalg.norm(img, axis=1, keepdims=True).clip(1e-12)
        txt = txt / np.linalg.norm(txt, axis=1, keepdims=True).clip(1e-12)
    return img @ txt.T


def zero_shot_direction(enc: Encoders, prompts: np.ndarray) -> np.ndarray:
    """Binary task: the unit image direction (d_I,) whose sign zero-shot reads.

    Raw dots: G^T (t_1 - t_0). Cosine models: W_I^T (u_1 - u_0) with u_k the normalised prompt
    embeddings (the per-image normalisation scales, never flips, the score difference).
    """
    txt = prompts @ enc.w_text.T  # (2, r)
    if enc.cosine:
        txt = txt / np.linalg.norm(txt, axis=1, keepdims=True).clip(1e-12)
    direction = enc.w_image.T @ (txt[1] - txt[0])  # (d_I,)
    return direction / max(float(np.linalg.norm(direction)), 1e-12)
