"""ClipLoss against open_clip's ClipLoss and a per-sample loop reference."""

from __future__ import annotations

import math

import open_clip.loss as oc_loss
import pytest
import torch
import torch.nn.functional as F

from mmcl.losses import LOSSES, ClipLoss, clamp_log_scale_


def _inputs(b: int = 6, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=-1)
    text = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=-1)
    scale = torch.tensor(7.3, dtype=torch.float64)
    return [t.clone().requires_grad_(True) for t in (image, text, scale)]


def _value_and_grads(loss_fn, image, text, scale):
    loss = loss_fn(image, text, scale)
    grads = torch.autograd.grad(loss, (image, text, scale))
    return loss.detach(), grads


def _loop_clip(image, text, scale):
    """-log softmax of the matching pair, row by row, both directions, averaged."""
    b, total = len(image), 0.0
    for i in range(b):
        img_row = torch.stack([scale * image[i] @ text[j] for j in range(b)])
        txt_row = torch.stack([scale * text[i] @ image[j] for j in range(b)])
        total = total - torch.log(torch.exp(img_row[i]) / torch.exp(img_row).sum())
        total = total - torch.log(torch.exp(txt_row[i]) / torch.exp(txt_row).sum())
    return total / (2 * b)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_open_clip_value_and_grads(seed):
    ours = _value_and_grads(ClipLoss(), *_inputs(seed=seed))
    theirs = _value_and_grads(oc_loss.ClipLoss(), *_inputs(seed=seed))
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-10, rtol=1e-8)
    for g_ours, g_theirs in zip(ours[1], theirs[1], strict=True):
        torch.testing.assert_close(g_ours, g_theirs, atol=1e-10, rtol=1e-8)


def test_matches_loop_reference_value_and_grads():
    ours = _value_and_grads(ClipLoss(), *_inputs(b=4, seed=3))
    ref = _value_and_grads(_loop_clip, *_inputs(b=4, seed=3))
    torch.testing.assert_close(ours[0], ref[0])
    for g_ours, g_ref in zip(ours[1], ref[1], strict=True):
        torch.testing.assert_close(g_ours, g_ref)


def test_large_scale_is_finite_float32():
    image, text, _ = (t.detach().float() for t in _inputs(b=8))
    loss = ClipLoss()(image, text, torch.tensor(1e4))
    assert torch.isfinite(loss)


def test_clamp_log_scale_caps_at_ln_100():
    log_scale = torch.nn.Parameter(torch.tensor([7.0, -1.0, 2.0]))
    clamp_log_scale_(log_scale)
    torch.testing.assert_close(log_scale.data, torch.tensor([math.log(100.0), 0.0, 2.0]))


def test_registry_names():
    expected = {"clip", "siglip", "ntxent", "masked_infonce", "spectral", "cross_entropy"}
    assert set(LOSSES.names()) == expected
    assert LOSSES.get("clip") is ClipLoss
