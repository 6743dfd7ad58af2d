"""NTXentLoss against a per-anchor python-loop reference, with and without MCL groups."""

from __future__ import annotations

import math

import torch

from mmcl.losses import NTXentLoss


def _views(b: int = 5, d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    v1 = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    v2 = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    return v1, v2


def _cos(a, b):
    return (a @ b) / (a.norm() * b.norm())


def _loop_ntxent(v1, v2, temperature, groups=None):
    """Anchor k of the 2B samples: positive = its other view; negatives = the 2B-2 others
    (restricted to the anchor's group when groups are given)."""
    samples = list(v1) + list(v2)
    b = len(v1)
    sample_group = list(groups) * 2 if groups is not None else [0] * (2 * b)
    total = 0.0
    for k in range(2 * b):
        partner = (k + b) % (2 * b)
        pos = math.e ** (_cos(samples[k], samples[partner]) / temperature)
        denom = pos
        for j in range(2 * b):
            if j in (k, partner) or sample_group[j] != sample_group[k]:
                continue
            denom = denom + torch.exp(_cos(samples[k], samples[j]) / temperature)
        total = total - torch.log(pos / denom)
    return total / (2 * b)


def _check(loss_fn, ref_fn, seed):
    v1, v2 = _views(seed=seed)
    ours = loss_fn(v1, v2)
    ours_grads = torch.autograd.grad(ours, (v1, v2))
    ref = ref_fn(v1, v2)
    ref_grads = torch.autograd.grad(ref, (v1, v2))
    torch.testing.assert_close(ours, ref)
    for g_ours, g_ref in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(g_ours, g_ref)


def test_matches_loop_reference():
    loss = NTXentLoss(temperature=0.3)
    _check(loss, lambda a, b: _loop_ntxent(a, b, 0.3), seed=0)


def test_groups_restrict_negatives_like_the_loop_reference():
    groups = torch.tensor([0, 1, 0, 1, 1])
    loss = NTXentLoss(temperature=0.5)
    _check(
        lambda a, b: loss(a, b, groups=groups),
        lambda a, b: _loop_ntxent(a, b, 0.5, groups.tolist()),
        seed=1,
    )


def test_one_group_equals_no_groups():
    v1, v2 = _views(seed=2)
    loss = NTXentLoss(temperature=0.2)
    torch.testing.assert_close(loss(v1, v2, groups=torch.zeros(5, dtype=torch.long)), loss(v1, v2))


def test_singleton_groups_leave_only_the_positive():
    """Every sample its own group: no negatives, so each anchor's softmax is 1 and the loss 0."""
    v1, v2 = _views(seed=3)
    loss = NTXentLoss()(v1, v2, groups=torch.arange(5))
    torch.testing.assert_close(loss, torch.zeros((), dtype=torch.float64))
