"""Cross-stage integration for MCL (Zhang et al. 2024): one model that concatenates its stages.

The paper's evaluation (`MMVP.ipynb`) concatenates each stage's *raw* projected embedding and
L2-normalizes the whole, so each stage weighs by its embedding norm; `normalize_per_stage=True`
normalizes each stage first (equal weights). Probes and kNN read the concatenated backbone
features (the usual SimCLR protocol; the paper's choice is not reported). The wrapper has the
model interface every eval task uses (`backbone_features`, `image_projection`, `encode_image`,
`encode_text`, `has_text`, `has_classifier`, `logit_scale`), so no task knows about stages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.errors import MMCLError
from mmcl.models.model import ContrastiveModel

CONCAT_LOGIT_SCALE = 100.0  # the reference MMVP evaluation's fixed scale for the concatenation


class StagedProjection(nn.Module):
    """Concatenated backbone features (B, sum F_s) -> concatenated stage embeddings (B, sum D_s)."""

    def __init__(self, stages: nn.ModuleList, widths: Sequence[int], normalize_per_stage: bool):
        super().__init__()
        self.stages = stages  # shared with the owning MultiStageModel
        self.widths = list(widths)
        self.normalize_per_stage = normalize_per_stage

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        parts = features.split(self.widths, dim=-1)  # per stage (B, F_s)
        out = [stage.image_projection(x) for stage, x in zip(self.stages, parts, strict=True)]
        if self.normalize_per_stage:
            out = [F.normalize(z, dim=-1) for z in out]
        return torch.cat(out, dim=-1)  # (B, sum D_s)


class MultiStageModel(nn.Module):
    """The stages' models side by side; every feature is the concatenation over stages."""

    has_classifier = False
    classifier = None

    def __init__(self, stages: Sequence[ContrastiveModel], normalize_per_stage: bool = False):
        super().__init__()
        if not stages:
            raise MMCLError("MultiStageModel needs at least one stage model")
        self.stages = nn.ModuleList(stages)
        self.widths = [stage.image_tower.feature_dim for stage in stages]
        self.normalize_per_stage = normalize_per_stage
        self.image_projection = StagedProjection(self.stages, self.widths, normalize_per_stage)
        log_scale = torch.tensor(math.log(CONCAT_LOGIT_SCALE))
        self.logit_scale = nn.Parameter(log_scale, requires_grad=False)

    @property
    def has_text(self) -> bool:
        return all(stage.has_text for stage in self.stages)

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([s.backbone_features(images) for s in self.stages], dim=-1)  # (B, sum F)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.image_projection(self.backbone_features(images))  # (B, sum D)
        return F.normalize(z, dim=-1) if normalize else z

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        if not self.has_text:
            raise MMCLError("this MCL model's stages have no text tower: use method.mcl.base=clip")
        parts = [s.encode_text(tokens, normalize=self.normalize_per_stage) for s in self.stages]
        z = torch.cat(parts, dim=-1)  # (B, sum D)
        return F.normalize(z, dim=-1) if normalize else z

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        raise MMCLError("an MCL model has no class head: use probes (eval task linear_probe)")

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp()
