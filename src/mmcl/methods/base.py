"""What every method is: a model plus a loss behind one `training_forward(batch)`.

The shape of open_clip's `task/` modules: a method returns a dict of named tensors; the total
loss is the sum of the entries whose name ends in `_loss`, the rest are logged as metrics. The
trainer never branches on the method, so a new method is one new file here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mmcl.config import check_choice, check_range
from mmcl.data.batch import Batch
from mmcl.losses import image_text_losses
from mmcl.methods.mcl_config import MCLConfig
from mmcl.models.model import ContrastiveModel, ModelConfig
from mmcl.registry import Registry
from mmcl.resampling import ResamplingConfig

METHODS: Registry = Registry("method")


@dataclass
class MethodConfig:
    name: str = "clip"  # a registered method: clip | simclr | supervised | mcl | ...
    loss: str = "clip"  # image-text methods: a registered image-text loss, clip | siglip
    temperature: float = 0.2  # simclr's NT-Xent temperature (CLIP's is learned)
    augment: str = "default"  # simclr views: default | weak_color | no_color
    label_smoothing: float = 0.0  # supervised cross-entropy
    # resampled_simclr: teacher and ratios (mmcl.resampling, zhang2023 2.2)
    resampling: ResamplingConfig = field(default_factory=ResamplingConfig)
    mcl: MCLConfig = field(default_factory=MCLConfig)  # used by method.name=mcl only

    def validate(self) -> None:
        check_choice("method.name", self.name, METHODS.names())
        check_choice("method.loss", self.loss, image_text_losses())
        if self.name == "mcl":
            check_choice("method.mcl.base", self.mcl.base, groupable_methods())
        check_choice("method.augment", self.augment, ("default", "weak_color", "no_color"))
        check_range("method.temperature", self.temperature, 1e-3, 10)
        check_range("method.label_smoothing", self.label_smoothing, 0, 1)


@dataclass
class DataInfo:
    """What a method needs to know about its data to build a model."""

    image_size: int
    num_classes: int


class Method(nn.Module):
    """Base class: subclasses set `needs_text` / `n_views` and implement `training_forward`."""

    needs_text: bool = False  # the dataset must tokenize captions
    n_views: int = 0  # the dataset must produce this many augmented views
    # Trained by `mmcl.train.stages` (one Trainer per stage, e.g. MCL) instead of one Trainer;
    # `mmcl.train.run.train` and `mmcl.train.run.load_trained` consult it.
    multistage: bool = False
    # `training_forward(batch, groups)` takes (B,) group ids and restricts each anchor's
    # negatives to its own group, so MCL can wrap the method (`method.mcl.base`).
    groupable: bool = False

    def __init__(self, model: ContrastiveModel) -> None:
        super().__init__()
        self.model = model

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> Method:
        raise TypeError(f"{cls.__name__} must define build()")

    def training_forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise TypeError(f"{type(self).__name__} must define training_forward()")

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        # DDP hooks run on forward(), so the trainer calls the method itself.
        return self.training_forward(batch)

    def after_optimizer_step(self) -> None:
        """Keep learnable scales in range (CLIP clamps its logit scale at 100)."""


def groupable_methods() -> list[str]:
    """The registered methods MCL can wrap: those whose negatives a group mask restricts."""
    return [name for name in METHODS if METHODS.get(name).groupable]


def total_loss(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of the entries whose name ends in `_loss`."""
    return sum(value for name, value in outputs.items() if name.endswith("_loss"))


def build_method(cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> Method:
    return METHODS.get(cfg.name).build(cfg, model_cfg, info)
