"""What every method is: a model plus a loss behind one `training_forward(batch)`.

The shape of open_clip's `task/` modules: a method returns a dict of named tensors; the total
loss is the sum of the entries whose name ends in `_loss`, the rest are logged as metrics. The
trainer never branches on the method, so a new method is one new file here (or a plugin).

A method owns what differs between methods: its settings (a config dataclass on the class,
`settings_cls`, read from `method.<settings_key>.*`, e.g. `method.resampling.*`), the checks of
a run config it cannot train (`validate_settings`, `check_run`) and, when it needs data of its
own, the training dataset (`training_dataset`). `MethodConfig` reads the sections through the
registry, so no config code names a method.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from mmcl.config import check_choice, check_range, held_section, sections_field
from mmcl.data.batch import Batch
from mmcl.errors import MMCLError
from mmcl.losses import image_text_losses
from mmcl.models.model import ContrastiveModel, ModelConfig
from mmcl.registry import Registry

METHODS: Registry = Registry("method")

# Sections every config holds whatever its method: configs written before each method owned its
# settings held both, so writing them still keeps every config's hash (the key of its cached
# training and scores) what it was. Any other section is held when its method is the one run, or
# when given.
ALWAYS_HELD = ("resampling", "mcl")


def settings_kinds() -> dict[str, type]:
    """Every registered method's settings section: key -> its dataclass (`method.<key>.*`)."""
    kinds: dict[str, type] = {}
    taken = [f.name for f in fields(MethodConfig)]
    for name in METHODS:
        method = METHODS.get(name)
        key, kind = getattr(method, "settings_key", ""), getattr(method, "settings_cls", None)
        if kind is None:
            continue
        if not key or key in taken or hasattr(MethodConfig, key) or kinds.get(key, kind) != kind:
            raise MMCLError(
                f"method {name!r}: settings_key {key!r} must name a section of its own (not "
                f"empty, not one of {', '.join(taken)}, not another method's)"
            )
        kinds[key] = kind
    return kinds


@dataclass
class MethodConfig:
    """`method.*`: the method's name, the settings several methods share, and each method's own
    section (`settings_kinds`), e.g. `method.resampling.*` of `resampled_simclr`."""

    name: str = "clip"  # a registered method: clip | simclr | supervised | mcl | ...
    # Shared: every image-text method trains with a registered image-text loss (clip, MCL on
    # clip), every view-based one with these temperature and augmentation (simclr, its
    # resampled and text-positive forms, MCL on simclr).
    loss: str = "clip"  # image-text methods: a registered image-text loss, clip | siglip
    temperature: float = 0.2  # NT-Xent temperature of the view methods (CLIP's is learned)
    augment: str = "default"  # view methods: default | weak_color | no_color
    # The supervised baseline's own setting, kept at `method.label_smoothing` where configs and
    # overrides have always set it (a section would move the key to method.<section>.*).
    label_smoothing: float = 0.0
    # Each method's own settings by section key, written flat (`method.resampling.*` of
    # resampled_simclr, `method.mcl.*` of mcl); read them as `cfg.resampling`, `cfg.settings`.
    sections: dict[str, Any] = sections_field(settings_kinds)

    def __post_init__(self) -> None:
        kinds = settings_kinds()
        own = getattr(METHODS.get(self.name), "settings_key", "") if self.name in METHODS else ""
        held = {key: kinds[key]() for key in (*ALWAYS_HELD, own) if key in kinds}
        self.sections = {**held, **self.sections}  # a new dict: `replace` shares the old one

    def __getattr__(self, key: str) -> Any:
        """A method's section by its key (`cfg.mcl`): the one held, else its defaults."""
        return held_section(self, key, "section")

    @property
    def settings(self) -> Any:
        """The settings of the method run (`method.<its settings_key>`), None if it has none."""
        key = getattr(METHODS.get(self.name), "settings_key", "")
        return getattr(self, key) if key else None

    def with_section(self, key: str, section: Any) -> MethodConfig:
        """This config with section `key` replaced (the config itself is left as it is)."""
        return replace(self, sections={**self.sections, key: section})

    def validate(self) -> None:
        check_choice("method.name", self.name, METHODS.names())
        check_choice("method.loss", self.loss, image_text_losses())
        check_choice("method.augment", self.augment, ("default", "weak_color", "no_color"))
        check_range("method.temperature", self.temperature, 1e-3, 10)
        check_range("method.label_smoothing", self.label_smoothing, 0, 1)
        METHODS.get(self.name).validate_settings(self)


@dataclass
class DataInfo:
    """What a method needs to know about its data to build a model."""

    image_size: int
    num_classes: int


class Method(nn.Module):
    """Base class: subclasses set `needs_text` / `n_views` and implement `training_forward`;
    the hooks below have defaults that fit a method with no settings and no data of its own."""

    needs_text: bool = False  # the dataset must tokenize captions
    needs_labels: bool = False  # the training data must have classes (the supervised loss)
    n_views: int = 0  # the dataset must produce this many augmented views
    # Its own settings: a config dataclass (with `validate()`) read from `method.<settings_key>`;
    # None when the shared `method.*` settings are all it reads.
    settings_cls: type | None = None
    settings_key: str = ""
    # Trained by `mmcl.train.stages` (one Trainer per stage, e.g. MCL) instead of one Trainer;
    # `mmcl.runs.training.train` and `mmcl.runs.training.load_trained` consult it.
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

    @classmethod
    def validate_settings(cls, cfg: MethodConfig) -> None:
        """Refuse settings that do not fit together (`MethodConfig.validate` calls it with the
        config of this method; each section has checked its own values already)."""

    @classmethod
    def check_run(cls, cfg: Any) -> None:
        """Refuse a run this method cannot train, at config validation (`RunConfig.validate`
        calls it with the whole run config): e.g. data it cannot read."""

    def training_dataset(self, cfg: Any, source: Any, default: Any) -> Any:
        """The dataset this method trains on. The trainer calls it with the run config, the
        training source (a `WorldSplit` on data.format=world) and the dataset it built for
        `needs_text` / `n_views`, before the sampler is sized; default: that dataset.

        A method whose batches come from elsewhere (partner views, a precomputed index)
        returns its own dataset of the same length convention (`__len__`, `__getitems__`).
        """
        return default

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
