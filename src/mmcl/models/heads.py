"""Projection heads between a tower's features and the loss space."""

from __future__ import annotations

from torch import nn

from mmcl.config import check_choice

HEAD_KINDS = ("none", "linear", "mlp")


def projection_head(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """`linear` (CLIP), `mlp` (SimCLR's Linear-BN-ReLU-Linear) or `none` (identity)."""
    check_choice("model.projection", kind, HEAD_KINDS)
    if kind == "none":
        return nn.Identity()
    if kind == "linear":
        return nn.Linear(in_dim, out_dim, bias=False)
    return nn.Sequential(
        nn.Linear(in_dim, in_dim, bias=False),
        nn.BatchNorm1d(in_dim),
        nn.ReLU(inplace=True),
        nn.Linear(in_dim, out_dim),
    )
