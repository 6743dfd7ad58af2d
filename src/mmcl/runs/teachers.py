"""The `clip_run` teacher: the image tower of a run mmcl trained (its folder or a checkpoint).

It lives here, not beside the other teachers in `mmcl.methods.teachers`, because loading a
trained run is this layer's job (`mmcl.runs.training`): methods sit below training and never
import it. Importing `mmcl.runs` registers it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from mmcl.errors import MMCLError
from mmcl.methods.teachers import ModelTeacher
from mmcl.resampling import TEACHERS, ResamplingConfig
from mmcl.runs.training import load_model, load_trained


@TEACHERS.register("clip_run")
class ClipRunTeacher(ModelTeacher):
    """`encode_image` of an mmcl-trained model: `path` is its run folder or a checkpoint file."""

    def __init__(self, path: str) -> None:
        super().__init__(load_mmcl_model(path))

    @classmethod
    def from_config(cls, cfg: ResamplingConfig, num_classes: int) -> ClipRunTeacher:
        return cls(cfg.teacher_path)

    def _embed(self, images: Tensor, labels: Tensor) -> Tensor:
        return self._on(images.device).encode_image(images, normalize=True)  # (M, D)


def load_mmcl_model(path: str) -> torch.nn.Module:
    """The model of a run folder (latest checkpoint) or of one checkpoint file."""
    where = Path(path)
    if not path or not where.exists():
        raise MMCLError(
            f"method.resampling.teacher_path={path!r} does not exist: give an mmcl run folder "
            "(e.g. runs/clip_shapes) or one of its checkpoints/step_*.pt files"
        )
    loaded = load_trained(where) if where.is_dir() else load_model(where)
    return loaded[1].model
