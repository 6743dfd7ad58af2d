"""Multinomial logistic regression in torch: the linear probe for ImageNet-size feature sets.

scikit-learn's CPU solver takes hours on 1.28M x 768 features with 1000 classes; this one runs
full-batch L-BFGS (torch.optim.LBFGS, strong-Wolfe line search) on the GPU when there is one.
It minimises scikit-learn's LogisticRegression(C) objective, 0.5 ||W||^2 + C sum_i CE_i with the
intercept unpenalised, divided by C N:

    mean_i CE_i + ||W||^2 / (2 C N)

the same minimiser, at the scale scikit-learn itself hands to L-BFGS (so the gradient tolerance
means the same). With two classes it fits one logit against a zero one, which is scikit-learn's
binary objective; two penalised rows would halve the effective penalty. Rows are processed in
chunks, so memory stays at the features plus one chunk of logits whatever N and K are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

PROBE_BACKENDS = ("auto", "sklearn", "torch")
CHUNK_LOGITS = 2**24  # logits (rows x classes) per chunk: 64 MiB of float32
# max |gradient| at which L-BFGS stops: 10x below scikit-learn's tol, so the solution is at
# least as close to the optimum as scikit-learn's (at 1e-4 it sometimes stopped short of it)
GRADIENT_TOLERANCE = 1e-5
HISTORY = 10  # L-BFGS memory: scipy's default, which scikit-learn uses


def probe_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's CPU threads set to `threads` for the block, then restored (a process-wide knob)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Standardizer:
    """Per-feature mean and population standard deviation of the train features, constant
    features left unscaled: what scikit-learn's StandardScaler computes, kept on the device."""

    mean: torch.Tensor  # (F,)
    scale: torch.Tensor  # (F,)

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardizer:
        var, mean = torch.var_mean(x, dim=0, correction=0)
        std = var.sqrt()
        return cls(mean, torch.where(std < 10 * torch.finfo(std.dtype).eps, 1.0, std))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(self.mean) - self.mean) / self.scale


@dataclass
class LinearWeights:
    """Class weights (K, F) and intercepts (K,); one row (1, F) for a binary problem, whose
    logit is read against a fixed zero for the first class."""

    weight: torch.Tensor
    bias: torch.Tensor

    @classmethod
    def zeros(cls, n_classes: int, n_features: int, device: torch.device) -> LinearWeights:
        rows = 1 if n_classes == 2 else n_classes
        weight = torch.zeros(rows, n_features, device=device)
        return cls(weight, torch.zeros(rows, device=device))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K) logits of standardized features (N, F), K >= 2."""
        z = torch.addmm(self.bias, x, self.weight.T)
        return torch.cat([torch.zeros_like(z), z], dim=1) if z.shape[1] == 1 else z

    def clone(self) -> LinearWeights:
        return LinearWeights(self.weight.detach().clone(), self.bias.detach().clone())


def _row_chunks(x: torch.Tensor, n_classes: int) -> Iterator[slice]:
    rows = max(1, CHUNK_LOGITS // n_classes)
    return (slice(start, start + rows) for start in range(0, x.shape[0], rows))


def objective(
    x: torch.Tensor, y: torch.Tensor, weights: LinearWeights, C: float, backward: bool = False
) -> float:
    """mean CE + ||W||^2 / (2 C N) on standardized features x (N, F) and class indices y (N,);
    with `backward`, its gradient is accumulated into the weights' .grad chunk by chunk."""
    n, n_classes = x.shape[0], max(2, weights.weight.shape[0])
    with torch.set_grad_enabled(backward):
        penalty = weights.weight.square().sum() / (2 * C * n)
        if backward:
            penalty.backward()
        total = penalty.detach()
        for rows in _row_chunks(x, n_classes):
            loss = F.cross_entropy(weights.logits(x[rows]), y[rows], reduction="sum") / n
            if backward:
                loss.backward()
            total = total + loss.detach()
    return float(total)


def fit_weights(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    C: float,
    max_iter: int,
    warm: LinearWeights | None = None,
) -> LinearWeights:
    """Minimise `objective` with full-batch L-BFGS from `warm` (zeros if None), like
    scikit-learn's lbfgs: at most `max_iter` iterations, stopping at GRADIENT_TOLERANCE."""
    start = warm if warm is not None else LinearWeights.zeros(n_classes, x.shape[1], x.device)
    weights = start.clone()
    params = [weights.weight.requires_grad_(), weights.bias.requires_grad_()]
    optimizer = torch.optim.LBFGS(
        params,
        max_iter=max_iter,
        max_eval=2 * max_iter,
        tolerance_grad=GRADIENT_TOLERANCE,
        history_size=HISTORY,
        line_search_fn="strong_wolfe",
    )

    def closure() -> float:
        optimizer.zero_grad()
        return objective(x, y, weights, C, backward=True)

    optimizer.step(closure)
    return weights.clone()


@torch.no_grad()
def predict_indices(weights: LinearWeights, x: torch.Tensor) -> torch.Tensor:
    """Class indices (N,) of standardized features (N, F), chunk by chunk."""
    n_classes = max(2, weights.weight.shape[0])
    return torch.cat([weights.logits(x[rows]).argmax(1) for rows in _row_chunks(x, n_classes)])


def accuracy(weights: LinearWeights, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose predicted class index equals y."""
    return float((predict_indices(weights, x) == y).float().mean())


@dataclass
class TorchProbe:
    """A probe fitted by `fit_weights`: standardization, weights, and the labels they index."""

    standardize: Standardizer
    weights: LinearWeights
    classes: np.ndarray  # (K,) sorted train labels; class index i predicts classes[i]
    C: float

    def predict(self, features: torch.Tensor | np.ndarray) -> np.ndarray:
        """Predicted labels (N,) for features (N, F), computed on the probe's device."""
        x = self.standardize(torch.as_tensor(features).to(self.weights.weight.device))
        return self.classes[predict_indices(self.weights, x).cpu().numpy()]
