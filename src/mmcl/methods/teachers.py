"""Teachers for resampled SimCLR: frozen image encoders whose similarities choose the positives.

Zhang, Wang & Wang (ICML 2023) use CLIP's image tower on the same augmented views SimCLR sees
(spec zhang2023.md in the shared specs 2.1). A teacher maps normalized images (M, 3, H, W) (and
their labels, which only the oracle reads) to features (M, D); the loss normalizes them.

- `clip_run`: the image tower of an mmcl run (run folder or checkpoint file); registered by
  `mmcl.runs.teachers`, the layer that loads trained runs.
- `open_clip`: any open_clip architecture with a local checkpoint file (never downloaded). Views
  are resized to the model's input size and re-normalized from mmcl's (OpenAI) statistics to the
  model's own; the repo fed un-normalized [0, 1] pixels, which we do not copy.
- `random_projection`: a fixed Gaussian projection of the pixels (control: similar pixels, no
  semantics beyond them).
- `label_oracle`: one-hot class labels (control: perfect semantics, the largest expected gain).

Teachers are plain objects, not submodules of the method: their weights never enter the
student's checkpoint or optimizer, and the trainer's DDP wrapper never sees them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import Tensor

from mmcl.errors import MMCLError
from mmcl.resampling import TEACHERS, ResamplingConfig


class Teacher:
    """Frozen feature map; subclasses implement `from_config` and `_embed`."""

    @classmethod
    def from_config(cls, cfg: ResamplingConfig, num_classes: int) -> Teacher:
        raise TypeError(f"{cls.__name__} must define from_config()")

    def embed(self, images: Tensor, labels: Tensor) -> Tensor:
        """(M, 3, H, W) normalized images, (M,) labels -> (M, D) float32 features, no grad."""
        with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
            return self._embed(images.float(), labels).float()

    def _embed(self, images: Tensor, labels: Tensor) -> Tensor:
        raise TypeError(f"{type(self).__name__} must define _embed()")


class ModelTeacher(Teacher):
    """A frozen nn.Module image encoder, moved to the images' device on first use."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.encoder = encoder.eval().requires_grad_(False)

    def _on(self, device: torch.device) -> torch.nn.Module:
        if next(self.encoder.parameters()).device != device:
            self.encoder.to(device)
        return self.encoder


@TEACHERS.register("open_clip")
class OpenClipTeacher(ModelTeacher):
    """The image tower of an open_clip architecture loaded from a local checkpoint file."""

    def __init__(self, model_name: str, checkpoint: str) -> None:
        import open_clip

        if model_name not in open_clip.list_models():
            raise MMCLError(
                f"method.resampling.teacher_model={model_name!r} is not an open_clip "
                "architecture (see open_clip.list_models(), e.g. ViT-B-32)"
            )
        if not checkpoint or not Path(checkpoint).is_file():
            raise MMCLError(
                f"method.resampling.teacher_path={checkpoint!r} is not a file: give the local "
                f"checkpoint of {model_name} (mmcl never downloads weights)"
            )
        model = open_clip.create_model(model_name, pretrained=checkpoint)
        super().__init__(model.visual)
        cfg = model.visual.preprocess_cfg
        self.size = _pair(model.visual.image_size)
        self.mean, self.std = torch.tensor(cfg["mean"]), torch.tensor(cfg["std"])

    @classmethod
    def from_config(cls, cfg: ResamplingConfig, num_classes: int) -> OpenClipTeacher:
        return cls(cfg.teacher_model, cfg.teacher_path)

    def _embed(self, images: Tensor, labels: Tensor) -> Tensor:
        encoder = self._on(images.device)
        shape = (1, 3, 1, 1)
        raw = images * _stat(OPENAI_DATASET_STD, images) + _stat(OPENAI_DATASET_MEAN, images)
        x = (raw - self.mean.to(images).view(shape)) / self.std.to(images).view(shape)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bicubic", align_corners=False)
        return encoder(x)  # (M, D)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def _stat(values: tuple[float, ...], like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


@TEACHERS.register("random_projection")
class RandomProjectionTeacher(Teacher):
    """Pixels (flattened) times a fixed N(0, 1/d) matrix drawn from `seed` on first use."""

    def __init__(self, dim: int, seed: int) -> None:
        self.dim, self.seed = dim, seed
        self.matrix: Tensor | None = None

    @classmethod
    def from_config(cls, cfg: ResamplingConfig, num_classes: int) -> RandomProjectionTeacher:
        return cls(cfg.projection_dim, cfg.teacher_seed)

    def _embed(self, images: Tensor, labels: Tensor) -> Tensor:
        flat = images.flatten(1)  # (M, 3*H*W)
        if self.matrix is None or self.matrix.shape[0] != flat.shape[1]:
            g = torch.Generator().manual_seed(self.seed)
            self.matrix = torch.randn(flat.shape[1], self.dim, generator=g) / flat.shape[1] ** 0.5
        return flat @ self.matrix.to(flat.device)  # (M, dim)


@TEACHERS.register("label_oracle")
class LabelOracleTeacher(Teacher):
    """One-hot class labels: S_ij = 1 exactly when two views share a class (-1: no class)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes

    @classmethod
    def from_config(cls, cfg: ResamplingConfig, num_classes: int) -> LabelOracleTeacher:
        return cls(num_classes)

    def _embed(self, images: Tensor, labels: Tensor) -> Tensor:
        if (labels >= self.num_classes).any():
            raise MMCLError("label_oracle teacher: a label exceeds the dataset's class count")
        known = labels >= 0
        onehot = F.one_hot(labels.clamp(min=0), self.num_classes).float()  # (M, C)
        return onehot * known[:, None]


def build_teacher(cfg: ResamplingConfig, num_classes: int) -> Teacher:
    """The configured teacher (loads weights now: call it when training starts)."""
    if cfg.teacher not in TEACHERS:
        raise MMCLError(
            f"method.resampling.teacher={cfg.teacher!r}: set a teacher "
            f"({', '.join(TEACHERS.names())}) to use the resampling ratios"
        )
    return TEACHERS.get(cfg.teacher).from_config(cfg, num_classes)
