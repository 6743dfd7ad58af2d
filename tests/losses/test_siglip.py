"""SigLipLoss against open_clip's SigLipLoss and a pairwise loop reference."""

from __future__ import annotations

import math

import open_clip.loss as oc_loss
import pytest
import torch
import torch.nn.functional as F

from mmcl.losses import SigLipLoss


def _inputs(b: int = 6, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=-1)
    text = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=-1)
    scale = torch.tensor(10.0, dtype=torch.float64)
    bias = torch.tensor(-3.0, dtype=torch.float64)
    return [t.clone().requires_grad_(True) for t in (image, text, scale, bias)]


def _value_and_grads(loss_fn, *inputs):
    loss = loss_fn(*inputs)
    return loss.detach(), torch.autograd.grad(loss, inputs)


def _loop_siglip(image, text, scale, bias):
    """Sum over every (i, j) of -log sigmoid(z_ij * (scale <x_i, y_j> + bias)), / B."""
    total = 0.0
    for i in range(len(image)):
        for j in range(len(text)):
            z = 1.0 if i == j else -1.0
            logit = scale * image[i] @ text[j] + bias
            total = total - torch.log(1.0 / (1.0 + torch.exp(-z * logit)))
    return total / len(image)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_open_clip_value_and_grads(seed):
    ours = _value_and_grads(SigLipLoss(), *_inputs(seed=seed))
    theirs = _value_and_grads(oc_loss.SigLipLoss(), *_inputs(seed=seed))
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-10, rtol=1e-8)
    for g_ours, g_theirs in zip(ours[1], theirs[1], strict=True):
        torch.testing.assert_close(g_ours, g_theirs, atol=1e-10, rtol=1e-8)


def test_matches_loop_reference_value_and_grads():
    ours = _value_and_grads(SigLipLoss(), *_inputs(b=4, seed=2))
    ref = _value_and_grads(_loop_siglip, *_inputs(b=4, seed=2))
    torch.testing.assert_close(ours[0], ref[0])
    for g_ours, g_ref in zip(ours[1], ref[1], strict=True):
        torch.testing.assert_close(g_ours, g_ref)


def test_zero_features_leave_only_the_bias():
    """Zero features give logits = bias, so the loss is -(log s(b) + (B-1) log s(-b))."""
    b, bias = 5, torch.tensor(-10.0)
    zeros = torch.zeros(b, 3)
    loss = SigLipLoss()(zeros, zeros, torch.tensor(10.0), bias)
    expected = -(math.log(torch.sigmoid(bias)) + (b - 1) * math.log(torch.sigmoid(-bias)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
