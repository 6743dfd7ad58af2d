"""MCL (Zhang et al. 2024, "Learning the Unlearned", arXiv 2402.11816): one stage of MCL.

A stage trains the base method (SimCLR or CLIP) unchanged except for its negatives: an anchor's
negatives are only samples of its own *group*, the accumulated k-means labels of the earlier
stages (`mmcl.data.clusters`), so a feature already learned (e.g. colour) cannot separate them and
the encoder must pick up another. Positives are never restricted. The stage driver
`mmcl.train.stages` trains one such method per stage, clusters after each, and integrates the
stages by concatenation (`mmcl.models.multistage`).

Groups reach the loss as a mask in every restricted batch, so the invariant "negatives share the
anchor's group" holds with either sampler: cluster-homogeneous batches make the mask all-true
(except pooled leftover batches), random batches (`sampler=masked`) rely on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor, nn

from mmcl.data.batch import Batch
from mmcl.distributed import all_gather_no_grad
from mmcl.errors import MMCLError
from mmcl.losses import gather_global, masked_infonce, same_group_mask
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig
from mmcl.models.model import ModelConfig
from mmcl.registry import Registry

# Base method name -> forward(base, batch, groups or None) -> outputs, with group-masked negatives.
GROUPED_FORWARDS: Registry[Callable[[Method, Batch, Tensor | None], dict[str, Tensor]]] = Registry(
    "MCL base method"
)


class GroupedClipLoss(nn.Module):
    """CLIP's symmetric InfoNCE with each query's negatives restricted to its own group.

    Local rows against the gathered global batch, like `ClipLoss`, so DDP matches one process;
    with a single group it equals `ClipLoss`.
    """

    def forward(
        self, image_features: Tensor, text_features: Tensor, logit_scale: Tensor, groups: Tensor
    ) -> Tensor:
        all_images, offset = gather_global(image_features)  # (N, D)
        all_texts, _ = gather_global(text_features)  # (N, D)
        all_groups = all_gather_no_grad(groups)  # (N,)
        rows = offset + torch.arange(len(groups), device=groups.device)  # (B,)
        empty = torch.zeros(len(groups), len(all_groups), dtype=torch.bool, device=groups.device)
        positive = empty.scatter(1, rows[:, None], True)  # (B, N) own caption / own image
        negative = same_group_mask(groups, all_groups)  # (B, N)
        image_loss = masked_infonce(logit_scale * image_features @ all_texts.T, positive, negative)
        text_loss = masked_infonce(logit_scale * text_features @ all_images.T, positive, negative)
        return (image_loss + text_loss) / 2


@GROUPED_FORWARDS.register("simclr")
def _simclr_forward(base: Method, batch: Batch, groups: Tensor | None) -> dict[str, Tensor]:
    """SimCLR's forward with `groups` passed to NT-Xent (all 2B-2 negatives same-group)."""
    views = batch.views  # (B, 2, 3, H, W)
    both = base.model.encode_image(views.flatten(0, 1), normalize=False)  # (2B, D)
    both = both.unflatten(0, (len(views), 2))  # (B, 2, D)
    return {"ntxent_loss": base.loss(both[:, 0], both[:, 1], groups=groups)}


@GROUPED_FORWARDS.register("clip")
def _clip_forward(base: Method, batch: Batch, groups: Tensor | None) -> dict[str, Tensor]:
    if groups is None:
        return base.training_forward(batch)
    image_features = base.model.encode_image(batch.images)  # (B, D), unit norm
    text_features = base.model.encode_text(batch.texts)  # (B, D), unit norm
    scale = base.model.scale()
    loss = GroupedClipLoss()(image_features, text_features, scale, groups)
    return {"clip_loss": loss, "logit_scale": scale.detach()}


@METHODS.register("mcl")
class MCL(Method):
    """One MCL stage: the base method with negatives restricted to `groups[batch.index]`.

    groups: (N_train,) long group id per training sample, or None (stage 1 without an initial
    clustering: the plain base method).
    """

    multistage = True

    def __init__(self, base: Method, base_name: str, groups: Tensor | None = None) -> None:
        super().__init__(base.model)
        self.base = base
        self.base_name = base_name
        self.needs_text, self.n_views = base.needs_text, base.n_views
        self.register_buffer("groups", groups, persistent=False)

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> MCL:
        return cls(build_base(cfg, model_cfg, info), cfg.mcl.base)

    def training_forward(self, batch: Batch) -> dict[str, Tensor]:
        groups = None
        if self.groups is not None:
            groups = self.groups[batch.index.to(self.groups.device)]  # (B,)
        outputs = GROUPED_FORWARDS.get(self.base_name)(self.base, batch, groups)
        if groups is not None:
            outputs["groups_in_batch"] = torch.unique(groups).numel() * torch.ones(())
        return outputs

    def after_optimizer_step(self) -> None:
        self.base.after_optimizer_step()


def build_base(cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> Method:
    """The wrapped method, built from the same config with `name = mcl.base`."""
    if cfg.mcl.base == "clip" and cfg.loss != "clip":
        raise MMCLError(
            f"method.mcl.base=clip restricts the negatives of CLIP's InfoNCE; method.loss="
            f"{cfg.loss!r} is not supported there: set method.loss=clip"
        )
    return METHODS.get(cfg.mcl.base).build(replace(cfg, name=cfg.mcl.base), model_cfg, info)
