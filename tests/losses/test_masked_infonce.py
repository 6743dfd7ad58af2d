"""MaskedInfoNCE: loop reference with several positives, mask semantics, zero masked influence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmcl.errors import MMCLError
from mmcl.losses import MaskedInfoNCE, masked_infonce, same_group_mask


def _qk(n: int = 4, m: int = 6, d: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    k = F.normalize(torch.randn(m, d, generator=g, dtype=torch.float64), dim=-1)
    return q.requires_grad_(True), k.requires_grad_(True)


def _loop_reference(q, k, pos, neg, temperature):
    """Per query: mean over positives p of -log(e^{s_p} / sum_{j in pos or neg} e^{s_j})."""
    total, count = 0.0, 0
    for i in range(len(q)):
        allowed = [j for j in range(len(k)) if pos[i][j] or neg[i][j]]
        denom = sum(torch.exp(q[i] @ k[j] / temperature) for j in allowed)
        positives = [j for j in range(len(k)) if pos[i][j]]
        if not positives:
            continue
        terms = [-torch.log(torch.exp(q[i] @ k[p] / temperature) / denom) for p in positives]
        total, count = total + sum(terms) / len(positives), count + 1
    return total / count


def _masks(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.zeros(4, 6, dtype=torch.bool)
    pos[0, 1] = pos[1, [2, 4]] = pos[2, 0] = pos[3, [3, 5]] = True
    neg = (torch.rand(4, 6, generator=g) < 0.5) & ~pos
    neg[:, 0] |= ~pos[:, 0]  # every query keeps at least one negative
    return pos, neg


def test_matches_loop_reference_with_several_positives():
    q, k = _qk()
    pos, neg = _masks()
    ours = MaskedInfoNCE(temperature=0.2)(q, k, pos, neg)
    ref = _loop_reference(q, k, pos.tolist(), neg.tolist(), 0.2)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(torch.autograd.grad(ours, (q, k)), torch.autograd.grad(ref, (q, k)))


def test_all_negatives_mask_equals_unmasked():
    q, k = _qk(seed=1)
    pos, _ = _masks()
    loss = MaskedInfoNCE(temperature=0.1)
    all_allowed = torch.ones_like(pos)
    torch.testing.assert_close(loss(q, k, pos, all_allowed), loss(q, k, pos))
    column_one = torch.zeros_like(pos)
    column_one[:, 1] = True  # every query's positive is key 1: plain cross-entropy
    plain = F.cross_entropy(q @ k.T / 0.1, torch.ones(4, dtype=torch.long))
    torch.testing.assert_close(loss(q, k, column_one), plain)


def test_masked_out_key_has_no_influence():
    q, k = _qk(seed=2)
    pos, neg = _masks(seed=2)
    hidden = 5  # a key that is neither positive nor allowed negative for any query
    pos[:, hidden], neg[:, hidden] = False, False
    loss = MaskedInfoNCE(temperature=0.1)
    before = loss(q, k, pos, neg)
    (grad_k,) = torch.autograd.grad(before, (k,))
    assert torch.equal(grad_k[hidden], torch.zeros_like(grad_k[hidden]))
    moved = k.detach().clone()
    moved[hidden] = q.detach()[0] * 3.0  # a key that would dominate every denominator
    assert torch.equal(loss(q, moved, pos, neg), before.detach())


def test_positives_survive_negative_mask_and_self_is_excluded():
    q, _ = _qk(n=4, seed=3)
    pos = torch.eye(4, dtype=torch.bool).roll(1, dims=1)  # query i's positive: key i+1
    loss = MaskedInfoNCE(temperature=0.5)
    no_negatives = torch.zeros(4, 4, dtype=torch.bool)
    torch.testing.assert_close(loss(q, q, pos, no_negatives), torch.zeros((), dtype=torch.float64))
    others = ~pos & ~torch.eye(4, dtype=torch.bool)
    expected = _loop_reference(q, q, pos.tolist(), others.tolist(), 0.5)
    torch.testing.assert_close(loss(q, q, pos), expected)


def test_query_without_positive_is_skipped_and_grads_are_finite():
    q, k = _qk(seed=4)
    pos, neg = _masks()
    pos[2] = False
    neg[2] = False  # a row with nothing allowed at all
    loss = MaskedInfoNCE(temperature=0.1)(q, k, pos, neg)
    keep = torch.tensor([0, 1, 3])
    without = MaskedInfoNCE(temperature=0.1)(q[keep], k, pos[keep], neg[keep])
    torch.testing.assert_close(loss, without)
    assert all(torch.isfinite(g).all() for g in torch.autograd.grad(loss, (q, k)))


def test_logit_scale_overrides_temperature():
    q, k = _qk(seed=5)
    pos, neg = _masks()
    by_scale = MaskedInfoNCE(temperature=1.0)(q, k, pos, neg, logit_scale=torch.tensor(4.0))
    torch.testing.assert_close(by_scale, MaskedInfoNCE(temperature=0.25)(q, k, pos, neg))


def test_same_group_mask():
    mask = same_group_mask(torch.tensor([0, 1, 0]), torch.tensor([1, 0]))
    assert mask.tolist() == [[False, True], [True, False], [False, True]]


def test_bad_mask_raises_user_error():
    logits = torch.zeros(2, 3)
    with pytest.raises(MMCLError, match="positive_mask"):
        masked_infonce(logits, torch.ones(3, 2, dtype=torch.bool))
