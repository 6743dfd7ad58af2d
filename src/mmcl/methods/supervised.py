"""The supervised baseline: cross-entropy on class labels with the same image tower."""

from __future__ import annotations

import torch

from mmcl.data.batch import Batch
from mmcl.losses import CrossEntropyLoss
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig
from mmcl.models.model import ContrastiveModel, ModelConfig, build_model


@METHODS.register("supervised")
class Supervised(Method):
    needs_labels = True

    def __init__(self, model: ContrastiveModel, label_smoothing: float) -> None:
        super().__init__(model)
        self.loss = CrossEntropyLoss(label_smoothing)

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> Supervised:
        model = build_model(
            model_cfg, info.image_size, with_text=False, num_classes=info.num_classes
        )
        return cls(model, cfg.label_smoothing)

    def training_forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.model.classify(batch.images)  # (B, C)
        accuracy = (logits.argmax(-1) == batch.labels).float().mean()
        return {"ce_loss": self.loss(logits, batch.labels), "train_accuracy": accuracy.detach()}
