"""SimCLR (Chen et al. 2020): two augmented views of each image, NT-Xent over the global batch."""

from __future__ import annotations

import torch

from mmcl.data.batch import Batch
from mmcl.losses import NTXentLoss
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig
from mmcl.models.model import ContrastiveModel, ModelConfig, build_model


@METHODS.register("simclr")
class SimCLR(Method):
    n_views = 2
    groupable = True

    def __init__(self, model: ContrastiveModel, temperature: float) -> None:
        super().__init__(model)
        self.loss = NTXentLoss(temperature)

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> SimCLR:
        # SimCLR's head is an MLP; the probes read the features before it.
        head_cfg = ModelConfig(**{**model_cfg.__dict__, "projection": "mlp"})
        return cls(build_model(head_cfg, info.image_size, with_text=False), cfg.temperature)

    def training_forward(
        self, batch: Batch, groups: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """NT-Xent of the two views; `groups` (B,) restricts the negatives to each group."""
        views = batch.views  # (B, 2, 3, H, W)
        both = self.model.encode_image(views.flatten(0, 1), normalize=False)  # (2B, D)
        both = both.unflatten(0, (len(views), 2))  # (B, 2, D)
        return {"ntxent_loss": self.loss(both[:, 0], both[:, 1], groups=groups)}
