"""MCL (Zhang et al. 2024, "Learning the Unlearned", arXiv 2402.11816): one stage of MCL.

A stage trains the base method (SimCLR or CLIP) unchanged except for its negatives: an anchor's
negatives are only samples of its own *group*, the accumulated k-means labels of the earlier
stages (`mmcl.data.clusters`), so a feature already learned (e.g. colour) cannot separate them and
the encoder must pick up another. Positives are never restricted. The stage driver
`mmcl.train.stages` trains one such method per stage, clusters after each, and integrates the
stages by concatenation (`mmcl.models.multistage`).

The base is any registered method that is `groupable` (SimCLR, CLIP with InfoNCE): its
`training_forward(batch, groups)` hands the batch's group ids to its own loss (`mmcl.losses`),
which masks other-group negatives, so MCL keeps no copy of any loss. Groups reach the loss in
every restricted batch, so the invariant "negatives share the
anchor's group" holds with either sampler: cluster-homogeneous batches make the mask all-true
(except pooled leftover batches), random batches (`sampler=masked`) rely on it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from mmcl.config import check_choice
from mmcl.data.batch import Batch
from mmcl.errors import MMCLError
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig, groupable_methods
from mmcl.methods.mcl_config import MCLConfig
from mmcl.models.model import ModelConfig


@METHODS.register("mcl")
class MCL(Method):
    """One MCL stage: the base method with negatives restricted to `groups[batch.index]`.

    groups: (N_train,) long group id per training sample, or None (stage 1 without an initial
    clustering: the plain base method).
    """

    multistage = True
    settings_cls, settings_key = MCLConfig, "mcl"  # method.mcl.*

    def __init__(self, base: Method, base_name: str, groups: Tensor | None = None) -> None:
        super().__init__(base.model)
        self.base = base
        self.base_name = base_name
        self.needs_text, self.n_views = base.needs_text, base.n_views
        self.register_buffer("groups", groups, persistent=False)

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> MCL:
        return cls(build_base(cfg, model_cfg, info), cfg.mcl.base)

    @classmethod
    def validate_settings(cls, cfg: MethodConfig) -> None:
        check_choice("method.mcl.base", cfg.mcl.base, groupable_methods())
        METHODS.get(cfg.mcl.base).validate_settings(replace(cfg, name=cfg.mcl.base))

    @classmethod
    def check_run(cls, cfg: Any) -> None:
        """What the base method refuses, MCL refuses."""
        METHODS.get(cfg.method.mcl.base).check_run(cfg)

    def training_dataset(self, cfg: Any, source: Any, default: Any) -> Any:
        return self.base.training_dataset(cfg, source, default)  # the base's data, every stage

    def training_forward(self, batch: Batch) -> dict[str, Tensor]:
        if self.groups is None:  # stage 1: the plain base method
            return self.base.training_forward(batch)
        groups = self.groups[batch.index.to(self.groups.device)]  # (B,)
        outputs = self.base.training_forward(batch, groups=groups)
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
