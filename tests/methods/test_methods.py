"""Methods: each turns a batch into named losses; new methods plug in through the registry."""

from __future__ import annotations

import torch

from mmcl.data.batch import Batch
from mmcl.methods import METHODS, DataInfo, MethodConfig, build_method, total_loss
from mmcl.models import ModelConfig, Tokenizer

TINY_MODEL = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)


def _batch(n: int = 8) -> Batch:
    torch.manual_seed(0)
    return Batch(
        images=torch.randn(n, 3, 32, 32),
        labels=torch.arange(n) % 4,
        index=torch.arange(n),
        texts=Tokenizer()([f"a shape number {i}" for i in range(n)]),
        views=torch.randn(n, 2, 3, 32, 32),
    )


def test_every_registered_method_returns_a_differentiable_loss():
    for name in METHODS.names():
        method = build_method(MethodConfig(name=name), TINY_MODEL, DataInfo(32, 4))
        outputs = method.training_forward(_batch())
        loss = total_loss(outputs)
        assert any(key.endswith("_loss") for key in outputs), name
        assert loss.ndim == 0 and torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in method.model.image_tower.parameters()]
        assert all(g is not None for g in grads), name


def test_total_loss_sums_only_loss_terms():
    outputs = {"a_loss": torch.tensor(1.0), "b_loss": torch.tensor(2.0), "acc": torch.tensor(9.0)}
    assert total_loss(outputs).item() == 3.0


def test_clip_logit_scale_is_clamped_after_a_step():
    method = build_method(MethodConfig(name="clip"), TINY_MODEL, DataInfo(32, 4))
    with torch.no_grad():
        method.model.logit_scale.fill_(10.0)
    method.after_optimizer_step()
    assert method.model.scale().item() <= 100.0 + 1e-4


def test_siglip_variant_trains_its_bias():
    method = build_method(MethodConfig(name="clip", loss="siglip"), TINY_MODEL, DataInfo(32, 4))
    outputs = method.training_forward(_batch())
    total_loss(outputs).backward()
    assert "siglip_loss" in outputs and method.logit_bias.grad is not None
