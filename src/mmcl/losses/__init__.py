"""Contrastive and supervised losses: one nn.Module per loss, registered in `LOSSES`.

Each loss is a pure function of features (or logits) plus positive/negative masks; the only
cross-process step is the named `gather_global` call, built on `mmcl.distributed`. Every
distributed loss computes the rows of its *local* samples against the *gathered* global batch and
takes the local mean, so the mean over ranks is the global-batch loss and DDP's averaged gradient
equals one process on the global batch (see `mmcl.distributed`).

Papers: CLIP (Radford et al. 2021, symmetric InfoNCE); SigLIP (Zhai et al. 2023, arXiv 2303.15343);
SimCLR NT-Xent (Chen et al. 2020); SupCon (Khosla et al. 2020) for several positives per query;
MCL (Zhang et al. 2024, arXiv 2402.11816) for within-group negatives; the multimodal spectral loss
of Zhang, Wang & Wang (ICML 2023, arXiv 2306.04272), see zhang2023.md in the shared specs 1.2.

Logit scale: the model owns the learnable *log* scale and clamps it in place to [0, ln 100] after
each optimizer step (`clamp_log_scale_`), as open_clip's training loop does; losses take the
already exponentiated scale and do not clamp it, so they stay pure functions of their inputs.
Logits always go through cross-entropy / logsumexp / logsigmoid, never exp-then-log.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcl.distributed import all_gather_no_grad, all_gather_with_grad, rank, world_size
from mmcl.errors import MMCLError
from mmcl.registry import Registry

LOSSES: Registry[type[nn.Module]] = Registry("loss")

# CLIP's cap on the exponentiated logit scale (a temperature of 0.01).
MAX_LOGIT_SCALE = 100.0  # CLIP's clamp on 1 / temperature
MAX_LOG_LOGIT_SCALE = math.log(MAX_LOGIT_SCALE)  # the same clamp on the learnable log scale


def clamp_log_scale_(log_scale: Tensor, max_scale: float = MAX_LOGIT_SCALE) -> None:
    """Clamp a learnable log logit scale in place to [0, ln max_scale]; call after each step."""
    with torch.no_grad():
        log_scale.clamp_(0.0, math.log(max_scale))


def image_text_losses() -> list[str]:
    """The registered losses an image-text method can train with (`method.loss`)."""
    return [name for name in LOSSES if getattr(LOSSES.get(name), "image_text", False)]


def gather_global(x: Tensor, enabled: bool = True) -> tuple[Tensor, int]:
    """All-gather `x` (B, ...) with grads -> (W*B, ...) and the global index of this rank's row 0.

    With `enabled=False` or a single process this is the identity with offset 0.
    """
    if not enabled or world_size() == 1:
        return x, 0
    return all_gather_with_grad(x), rank() * x.shape[0]


def same_group_mask(groups_q: Tensor, groups_k: Tensor) -> Tensor:
    """(N,) and (M,) group ids -> (N, M) bool, True where query and key share a group (MCL)."""
    return groups_q[:, None] == groups_k[None, :]  # (N, M)


def _check_mask(name: str, mask: Tensor | None, shape: tuple[int, int]) -> None:
    if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != shape):
        raise MMCLError(
            f"masked InfoNCE: `{name}` must be a bool tensor of shape {shape} (queries x keys), "
            f"got {mask.dtype} {tuple(mask.shape)}; build it with same_group_mask or a comparison"
        )


def masked_infonce(
    logits: Tensor,
    positive_mask: Tensor,
    negative_mask: Tensor | None = None,
    self_mask: Tensor | None = None,
) -> Tensor:
    """InfoNCE on (N, M) logits with several positives per query and a restricted negative set.

    The denominator of query i runs over its positives and its allowed negatives
    (`negative_mask`, default: every non-positive key); `self_mask` entries (the query itself)
    are always removed and positives are never removed by `negative_mask`. With several positives
    the loss of a query is the mean of -log p over them (SupCon's L_out). Queries without any
    positive are left out of the mean over queries (0 if none has one).
    """
    shape = tuple(logits.shape)
    _check_mask("positive_mask", positive_mask, shape)
    _check_mask("negative_mask", negative_mask, shape)
    _check_mask("self_mask", self_mask, shape)
    not_self = ~self_mask if self_mask is not None else torch.ones_like(positive_mask)
    positives = positive_mask & not_self  # (N, M)
    negatives = ~positive_mask if negative_mask is None else negative_mask & ~positive_mask
    allowed = (positives | negatives) & not_self  # (N, M)
    log_norm = logits.masked_fill(~allowed, float("-inf")).logsumexp(dim=1, keepdim=True)  # (N, 1)
    log_prob = torch.where(positives, logits - log_norm, torch.zeros_like(logits))  # (N, M)
    n_pos = positives.sum(dim=1)  # (N,)
    has_pos = n_pos > 0
    per_query = -log_prob.sum(dim=1)[has_pos] / n_pos[has_pos]  # (N_valid,)
    return per_query.sum() / has_pos.sum().clamp(min=1)


@LOSSES.register("clip")
class ClipLoss(nn.Module):
    """Symmetric image-text InfoNCE over the global batch (CLIP).

    Matches open_clip's `ClipLoss(local_loss=True, gather_with_grad=True)`: local rows against all
    gathered columns, the mean of the image->text and text->image cross-entropies. Optional
    `groups` (B,) restrict each query's negatives to samples of its own group (MCL's
    within-cluster negatives); with a single group the value equals the unrestricted loss.
    """

    image_text = True  # a choice of `method.loss` for image-text methods

    def __init__(self, gather: bool = True) -> None:
        super().__init__()
        self.gather = gather  # False: each rank contrasts only within its local batch

    def forward(
        self,
        image_features: Tensor,
        text_features: Tensor,
        logit_scale: Tensor,
        groups: Tensor | None = None,
        **unused: object,
    ) -> Tensor:
        """Features (B, D) L2-normalised; `logit_scale` the exponentiated scale (scalar)."""
        all_images, offset = gather_global(image_features, self.gather)  # (W*B, D)
        all_texts, _ = gather_global(text_features, self.gather)  # (W*B, D)
        logits_per_image = logit_scale * image_features @ all_texts.T  # (B, W*B)
        logits_per_text = logit_scale * text_features @ all_images.T  # (B, W*B)
        labels = offset + torch.arange(image_features.shape[0], device=image_features.device)
        if groups is not None:
            return self._grouped(logits_per_image, logits_per_text, labels, groups)
        image_loss = F.cross_entropy(logits_per_image, labels)
        text_loss = F.cross_entropy(logits_per_text, labels)
        return (image_loss + text_loss) / 2

    def _grouped(
        self, logits_per_image: Tensor, logits_per_text: Tensor, labels: Tensor, groups: Tensor
    ) -> Tensor:
        """Both directions' InfoNCE with other-group keys masked out of each denominator."""
        all_groups = all_gather_no_grad(groups) if self.gather else groups  # (W*B,)
        empty = torch.zeros_like(logits_per_image, dtype=torch.bool)  # (B, W*B)
        positive = empty.scatter(1, labels[:, None], True)  # own caption / own image
        negative = same_group_mask(groups, all_groups)  # (B, W*B)
        image_loss = masked_infonce(logits_per_image, positive, negative)
        text_loss = masked_infonce(logits_per_text, positive, negative)
        return (image_loss + text_loss) / 2


@LOSSES.register("siglip")
class SigLipLoss(nn.Module):
    """Pairwise sigmoid loss (SigLIP): sum of -log sigmoid(+-logit) over pairs / local batch size.

    Same value as open_clip's `SigLipLoss` (which also divides the pair sum by the local batch
    size, not by the number of pairs). Across ranks the text features are all-gathered with
    gradients: local images against every text, positives on the local diagonal.
    """

    image_text = True

    def __init__(self, gather: bool = True) -> None:
        super().__init__()
        self.gather = gather

    def forward(
        self,
        image_features: Tensor,
        text_features: Tensor,
        logit_scale: Tensor,
        logit_bias: Tensor,
        **unused: object,
    ) -> Tensor:
        all_texts, offset = gather_global(text_features, self.gather)  # (W*B, D)
        logits = logit_scale * image_features @ all_texts.T + logit_bias  # (B, W*B)
        rows = torch.arange(image_features.shape[0], device=logits.device)
        signs = -torch.ones_like(logits)  # (B, W*B): -1 for negative pairs
        signs[rows, offset + rows] = 1.0  # +1 for each image's own caption
        return -F.logsigmoid(signs * logits).sum() / image_features.shape[0]


@LOSSES.register("masked_infonce")
class MaskedInfoNCE(nn.Module):
    """General InfoNCE on dot products of given queries and keys with positive/negative masks.

    Queries (N, D) and keys (M, D) are used as given (normalise them first for cosine logits) and
    are not gathered: the caller builds global keys and masks. Logits are `q @ k.T / temperature`,
    or `q @ k.T * logit_scale` when a scale is passed. When `queries is keys` the diagonal
    (self-similarity) is excluded unless an explicit `self_mask` is given.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise MMCLError(f"MaskedInfoNCE: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(
        self,
        queries: Tensor,
        keys: Tensor,
        positive_mask: Tensor,
        negative_mask: Tensor | None = None,
        logit_scale: Tensor | None = None,
        self_mask: Tensor | None = None,
        **unused: object,
    ) -> Tensor:
        scale = logit_scale if logit_scale is not None else 1.0 / self.temperature
        logits = scale * queries @ keys.T  # (N, M)
        if self_mask is None and queries is keys:
            self_mask = torch.eye(len(queries), dtype=torch.bool, device=queries.device)
        return masked_infonce(logits, positive_mask, negative_mask, self_mask)


@LOSSES.register("ntxent")
class NTXentLoss(nn.Module):
    """SimCLR's NT-Xent on two views: cosine logits / temperature, 2B-2 negatives per anchor.

    Each of the 2B anchors has its other view as the positive and every other sample of both
    views as a negative (global batch across ranks). Optional `groups` (B,) restrict negatives to
    samples of the same group, MCL's within-cluster negatives as a mask (`sampler="masked"`).
    """

    def __init__(self, temperature: float = 0.5, gather: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise MMCLError(f"NTXentLoss: temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.gather = gather

    def forward(
        self,
        view1_features: Tensor,
        view2_features: Tensor,
        groups: Tensor | None = None,
        **unused: object,
    ) -> Tensor:
        z1 = F.normalize(view1_features, dim=-1)  # (B, D)
        z2 = F.normalize(view2_features, dim=-1)  # (B, D)
        all_z1, offset = gather_global(z1, self.gather)  # (N, D), N = W*B
        all_z2, _ = gather_global(z2, self.gather)  # (N, D)
        queries = torch.cat([z1, z2])  # (2B, D)
        keys = torch.cat([all_z1, all_z2])  # (2N, D)
        n, local = len(all_z1), offset + torch.arange(len(z1), device=z1.device)
        own = torch.cat([local, n + local])[:, None]  # (2B, 1) key index of the anchor itself
        partner = torch.cat([n + local, local])[:, None]  # (2B, 1) key index of its other view
        empty = torch.zeros(len(queries), len(keys), dtype=torch.bool, device=z1.device)
        self_mask = empty.scatter(1, own, True)  # (2B, 2N)
        positive_mask = empty.scatter(1, partner, True)  # (2B, 2N)
        negative_mask = None
        if groups is not None:
            all_groups = all_gather_no_grad(groups) if self.gather else groups  # (N,)
            negative_mask = same_group_mask(groups.repeat(2), all_groups.repeat(2))  # (2B, 2N)
        logits = queries @ keys.T / self.temperature  # (2B, 2N)
        return masked_infonce(logits, positive_mask, negative_mask, self_mask)


@LOSSES.register("spectral")
class SpectralContrastiveLoss(nn.Module):
    """Unbiased mini-batch estimator of the multimodal spectral contrastive loss (zhang2023 1.2).

    L = -(2/B) sum_i f_v(v_i).f_l(l_i) + 1/(B(B-1)) sum_{i != j} (f_v(v_i).f_l(l_j))^2 on
    unnormalised features. Its expectation is L_MM = ||P~ - F_V F_L^T||_F^2 - ||P~||_F^2.
    Across ranks the text features are gathered; each rank normalises its local rows so that the
    mean over ranks is the estimator on the global batch.
    """

    def __init__(self, gather: bool = True) -> None:
        super().__init__()
        self.gather = gather

    def forward(self, f_v: Tensor, f_l: Tensor, **unused: object) -> Tensor:
        all_l, offset = gather_global(f_l, self.gather)  # (N, k)
        n, b = len(all_l), len(f_v)
        if n < 2:
            raise MMCLError("SpectralContrastiveLoss needs a (global) batch of at least 2 pairs")
        scores = f_v @ all_l.T  # (B, N)
        rows = torch.arange(b, device=f_v.device)
        paired = scores[rows, offset + rows]  # (B,) the positive pairs
        cross = scores.square().sum() - paired.square().sum()  # sum over i != j
        return -2.0 * paired.mean() + cross / (b * (n - 1))


def spectral_population_loss(P: Tensor, f_v: Tensor, f_l: Tensor) -> Tensor:
    """Population L_MM on a finite world: -2 E_{P}[f_v.f_l] + E_{p_V x p_L}[(f_v.f_l)^2].

    P (N_V, N_L) is the joint pair distribution (sums to 1); f_v (N_V, k), f_l (N_L, k) the
    features of every image and text of the world.
    """
    scores = f_v @ f_l.T  # (N_V, N_L)
    p_v, p_l = P.sum(dim=1), P.sum(dim=0)  # (N_V,), (N_L,)
    independent = p_v[:, None] * p_l[None, :]  # (N_V, N_L)
    return -2.0 * (P * scores).sum() + (independent * scores.square()).sum()


@LOSSES.register("cross_entropy")
class CrossEntropyLoss(nn.Module):
    """Supervised cross-entropy on class logits, optional label smoothing."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise MMCLError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1), got {label_smoothing}"
            )
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, labels: Tensor, **unused: object) -> Tensor:
        """Logits (B, C), labels (B,) long."""
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
