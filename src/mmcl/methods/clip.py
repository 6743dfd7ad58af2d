"""CLIP (Radford et al. 2021): symmetric image-text InfoNCE with a learnable temperature.

`method.loss=siglip` swaps in SigLIP's pairwise sigmoid loss (Zhai et al. 2023) with its
learnable bias. Both losses gather features across processes, so the negatives are the global
batch. With InfoNCE the method is groupable: MCL passes group ids that restrict the negatives.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mmcl.data.batch import Batch
from mmcl.errors import MMCLError
from mmcl.losses import LOSSES, clamp_log_scale_
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig
from mmcl.models.model import ContrastiveModel, ModelConfig, build_model

SIGLIP_INIT_SCALE = math.log(10.0)  # SigLIP's initial t' = log 10
SIGLIP_INIT_BIAS = -10.0  # and b = -10, so early pairs are mostly "negative"


@METHODS.register("clip")
class CLIP(Method):
    needs_text = True
    groupable = True

    def __init__(self, model: ContrastiveModel, loss: str = "clip") -> None:
        super().__init__(model)
        self.loss_name = loss
        self.loss = LOSSES.get(loss)()
        if loss == "siglip":
            self.logit_bias = nn.Parameter(torch.tensor(SIGLIP_INIT_BIAS))
            with torch.no_grad():
                model.logit_scale.fill_(SIGLIP_INIT_SCALE)

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> CLIP:
        return cls(build_model(model_cfg, info.image_size, with_text=True), cfg.loss)

    def training_forward(
        self, batch: Batch, groups: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The loss of the batch; `groups` (B,) restricts InfoNCE's negatives to each group."""
        image_features = self.model.encode_image(batch.images)  # (B, D), unit norm
        text_features = self.model.encode_text(batch.texts)  # (B, D), unit norm
        scale = self.model.scale()
        extra = {"logit_bias": self.logit_bias * 1.0} if self.loss_name == "siglip" else {}
        if groups is not None:
            if self.loss_name != "clip":
                raise MMCLError(
                    f"group-restricted negatives (MCL) need method.loss=clip, not {self.loss_name}"
                )
            extra["groups"] = groups
        loss = self.loss(image_features, text_features, logit_scale=scale, **extra)
        return {f"{self.loss_name}_loss": loss, "logit_scale": scale.detach()}

    def after_optimizer_step(self) -> None:
        clamp_log_scale_(self.model.logit_scale)
