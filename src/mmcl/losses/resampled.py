"""CLIP-guided resampling of SimCLR's positives and negatives (Zhang, Wang & Wang, ICML 2023).

The paper's method (arXiv 2306.04272, repo PKU-ML/CLIP-Help-SimCLR; spec
zhang2023.md in the shared specs 2.2) reads a teacher similarity S_ij = c_i.c_j between the
teacher (CLIP image tower) features of the 2N views of a global batch and changes NT-Xent's
masks. Four independent knobs, each a ratio (the repo hard-codes them as constants):

- `new_positive_ratio`: the anchors (a share of the 2N, the ones whose teacher neighbour is the
  most similar) get one extra positive q(i) = argmax_{j not i, p(i)} S_ij on the same softmax row;
  the anchor's loss is then (l_partner + l_new) / 2. 1.0 is the paper's AddNewPositive.
- `easy_negative_ratio`: each row drops that share of its 2N-2 negatives, the least similar.
- `false_negative_ratio`: each row drops that share of its negatives, the most similar.
- `false_positive_ratio`: that share of the N positive pairs, the least similar, is dropped: both
  anchors leave the mean (the repo's version is a no-op, see `faithful_to_repo`).

Differences from the repo, on purpose: counts are taken over the 2N-2 real negatives (the repo's
row statistic includes the anchor itself, so it drops one fewer), entries are chosen by rank with
ties broken by key index (a label-oracle teacher has massive ties; a threshold would drop whole
classes), and the teacher features are gathered across processes, so DDP equals one process on the
global batch (the repo's CLIP variants fail under DDP).

Everything here is a pure function of features; the masks are built on the *global* batch and
each rank takes its own rows, so every rank agrees on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcl.distributed import all_gather_no_grad, world_size
from mmcl.errors import MMCLError
from mmcl.losses import gather_global, masked_infonce
from mmcl.resampling import ResamplingConfig


@dataclass
class ResampledMasks:
    """Masks over the 2N x 2N global batch (rows = anchors, columns = keys), key order
    [view 1 of samples 0..N-1; view 2 of samples 0..N-1]; `positive` rows of dropped anchors are
    empty; `new_positive` (2N,) is q(i), or -1 where the anchor got none."""

    positive: Tensor  # (2N, 2N) bool
    negative: Tensor  # (2N, 2N) bool, allowed negatives (self and positives excluded)
    new_positive: Tensor  # (2N,) long


def _count(ratio: float, total: int) -> int:
    """floor(ratio * total) (the repo's int(u * n)), guarded against float round-off."""
    return int(ratio * total + 1e-9)


def _rank_pick(scores: Tensor, candidates: Tensor, count: int, largest: bool) -> Tensor:
    """(R, M) bool: per row, the `count` candidate entries with the largest/smallest score.

    Ties go to the lower column index (stable sort), so the choice is deterministic.
    """
    picked = torch.zeros_like(candidates)
    if count <= 0:
        return picked
    fill = float("-inf") if largest else float("inf")
    keyed = scores.masked_fill(~candidates, fill)  # non-candidates sort last
    order = torch.sort(keyed, dim=1, descending=largest, stable=True).indices[:, :count]  # (R, c)
    return picked.scatter(1, order, True) & candidates


def teacher_similarity(c1: Tensor, c2: Tensor) -> Tensor:
    """(N, Dt) teacher features of both views -> S (2N, 2N) cosine similarities, float32."""
    c = F.normalize(torch.cat([c1, c2]).float(), dim=-1)  # (2N, Dt)
    return c @ c.T


def _new_positives(S: Tensor, candidates: Tensor, ratio: float) -> Tensor:
    """(2N,) q(i) = the most similar candidate of anchor i, for the `ratio` share of anchors
    whose q(i) is the most similar; -1 for the others."""
    n2 = len(S)
    rows = torch.arange(n2, device=S.device)
    none = torch.full((n2,), -1, dtype=torch.long, device=S.device)
    if ratio <= 0 or n2 <= 2:
        return none
    nearest = S.masked_fill(~candidates, float("-inf")).argmax(dim=1)  # first max on ties
    best = S[rows, nearest][None, :]  # (1, 2N) how similar each anchor's neighbour is
    every = torch.ones_like(best, dtype=torch.bool)
    chosen = _rank_pick(best, every, _count(ratio, n2), largest=True)[0]  # (2N,)
    return torch.where(chosen, nearest, none)


def _dropped_pairs(S: Tensor, ratio: float) -> Tensor:
    """(2N,) bool: both anchors of the `ratio` share of pairs with the least similar views."""
    n = len(S) // 2
    rows = torch.arange(n, device=S.device)
    pair_sim = S[rows, rows + n][None, :]  # (1, N) teacher similarity of each positive pair
    every = torch.ones_like(pair_sim, dtype=torch.bool)
    return _rank_pick(pair_sim, every, _count(ratio, n), largest=False)[0].repeat(2)


def resampling_masks(S: Tensor, cfg: ResamplingConfig) -> ResampledMasks:
    """The global masks of every variant at once from teacher similarities S (2N, 2N)."""
    n2 = S.shape[0]
    rows = torch.arange(n2, device=S.device)
    partner = (rows + n2 // 2) % n2  # (2N,)
    eye = torch.eye(n2, dtype=torch.bool, device=S.device)
    positive = torch.zeros_like(eye).scatter(1, partner[:, None], True)  # (2N, 2N)
    others = ~(eye | positive)  # (2N, 2N) the 2N-2 candidate negatives of each row
    new_positive = _new_positives(S, others, cfg.new_positive_ratio)
    has_new = new_positive >= 0
    positive[rows[has_new], new_positive[has_new]] = True
    dropped = _rank_pick(S, others, _count(cfg.easy_negative_ratio, n2 - 2), largest=False)
    dropped |= _rank_pick(S, others, _count(cfg.false_negative_ratio, n2 - 2), largest=True)
    negative = others & ~dropped & ~positive
    if cfg.false_positive_ratio > 0 and not cfg.faithful_to_repo:
        drop_anchor = _dropped_pairs(S, cfg.false_positive_ratio)  # (2N,)
        positive[drop_anchor] = False
        new_positive[drop_anchor] = -1
    return ResampledMasks(positive, negative, new_positive)


def _global_mean(local_mean: Tensor, positive_rows: Tensor, global_valid: int) -> Tensor:
    """Rescale a mean over this rank's valid anchors so that the mean over ranks is the mean
    over the global batch's valid anchors (dropped false positives make ranks unequal)."""
    local_valid = int(positive_rows.any(dim=1).sum())
    if global_valid == 0:
        return local_mean * 0.0
    return local_mean * (local_valid * world_size() / global_valid)


def resampled_ntxent(
    z1: Tensor,
    z2: Tensor,
    c1: Tensor | None,
    c2: Tensor | None,
    cfg: ResamplingConfig,
    temperature: float,
    gather: bool = True,
) -> tuple[Tensor, ResampledMasks, Tensor]:
    """NT-Xent with resampled positives/negatives on the global batch.

    z1, z2 (B, D) student projections of the two views (this rank); c1, c2 (B, Dt) the teacher's
    features of the same views (ignored, may be None, when every ratio is 0). Returns the loss,
    the global masks and the global row ids (2B,) of this rank's anchors.
    """
    z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)  # (B, D)
    all_z1, offset = gather_global(z1, gather)  # (N, D)
    all_z2, _ = gather_global(z2, gather)  # (N, D)
    n = len(all_z1)
    if cfg.batch_ratios_used:
        if c1 is None or c2 is None:
            raise MMCLError("resampled_ntxent: the ratios need teacher features c1, c2")
        gather_c = all_gather_no_grad if gather else (lambda x: x)
        S = teacher_similarity(gather_c(c1.detach()), gather_c(c2.detach()))  # (2N, 2N)
    else:
        S = torch.zeros(2 * n, 2 * n, device=z1.device)
    masks = resampling_masks(S, cfg)
    local = offset + torch.arange(len(z1), device=z1.device)
    own = torch.cat([local, n + local])  # (2B,) global rows of this rank's anchors
    queries = torch.cat([z1, z2])  # (2B, D)
    keys = torch.cat([all_z1, all_z2])  # (2N, D)
    logits = queries @ keys.T / temperature  # (2B, 2N)
    self_mask = torch.zeros_like(logits, dtype=torch.bool).scatter(1, own[:, None], True)
    positive, negative = masks.positive[own], masks.negative[own]  # (2B, 2N)
    loss = masked_infonce(logits, positive, negative, self_mask)
    global_valid = int(masks.positive.any(dim=1).sum())
    return _global_mean(loss, positive, global_valid), masks, own


def neighbour_ntxent(
    z1: Tensor, z2: Tensor, z_nb: Tensor, temperature: float, gather: bool = True
) -> Tensor:
    """Dataset-level new positive: NT-Xent whose keys also hold a view of each sample's nearest
    neighbour in the training set (from a precomputed index), an extra positive of both views.

    z1, z2, z_nb (B, D) this rank's views and neighbour views. Keys: [views 1; views 2;
    neighbour views] of the global batch (3N); anchors: both views; the anchor's loss is the mean
    of -log p over its partner and its neighbour view, as in the in-batch variant.
    """
    z1, z2, z_nb = (F.normalize(z, dim=-1) for z in (z1, z2, z_nb))  # (B, D)
    all_z = [gather_global(z, gather) for z in (z1, z2, z_nb)]
    (all_z1, offset), (all_z2, _), (all_nb, _) = all_z
    n, b = len(all_z1), len(z1)
    local = offset + torch.arange(b, device=z1.device)
    own = torch.cat([local, n + local])[:, None]  # (2B, 1)
    partner = torch.cat([n + local, local])[:, None]  # (2B, 1)
    neighbour = (2 * n + local).repeat(2)[:, None]  # (2B, 1)
    keys = torch.cat([all_z1, all_z2, all_nb])  # (3N, D)
    logits = torch.cat([z1, z2]) @ keys.T / temperature  # (2B, 3N)
    empty = torch.zeros_like(logits, dtype=torch.bool)
    positive = empty.scatter(1, partner, True).scatter(1, neighbour, True)  # (2B, 3N)
    return masked_infonce(logits, positive, None, empty.scatter(1, own, True))
