"""Linear encoders for the theory experiments: vector inputs, f(x) = W x."""

from __future__ import annotations

import torch
from torch import nn


class LinearEncoder(nn.Module):
    """f(x) = W x with W in R^{out x in}; no bias, as in the linear-model analyses."""

    def __init__(self, in_dim: int, out_dim: int, init_std: float = 0.01) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) * init_std)
        self.feature_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T  # (B, out)
