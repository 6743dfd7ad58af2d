"""Settings of SimCLR with CLIP-guided resampling (Zhang, Wang & Wang, ICML 2023):
`method.resampling.*`, and the registry of the teachers that pick the new positives.

`ResamplingConfig` is the settings class of the method `mmcl.methods.resampled_simclr` (its
`settings_cls`, section key `resampling`); it lives here, below the methods, because the loss it
drives (`mmcl.losses.resampled`) reads it too. The teachers are `mmcl.methods.teachers` (and
`mmcl.runs.teachers` for a trained mmcl run).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmcl.config import check_choice, check_range
from mmcl.errors import MMCLError
from mmcl.registry import Registry

# Teacher classes by name; `mmcl.methods.teachers` registers them (imported with mmcl.methods).
TEACHERS: Registry[type] = Registry("teacher")
NEIGHBOUR_SOURCES = ("batch", "index")


@dataclass
class ResamplingConfig:
    """`method.resampling.*`: the teacher and the four ratios of `resampled_simclr`.

    All ratios 0 (the default) is plain SimCLR NT-Xent.
    """

    teacher: str = "none"  # none or a registered teacher: clip_run | open_clip | ...
    teacher_path: str = ""  # clip_run: mmcl run folder or checkpoint; open_clip: local weights
    teacher_model: str = ""  # open_clip architecture name, e.g. ViT-B-32
    new_positive_ratio: float = 0.0  # share of anchors given their teacher neighbour (paper: 1)
    easy_negative_ratio: float = 0.0  # share of negatives dropped, least similar (paper: 0.1)
    false_negative_ratio: float = 0.0  # share of negatives dropped, most similar (paper: 0.05)
    false_positive_ratio: float = 0.0  # share of positive pairs dropped, least similar (0.1)
    faithful_to_repo: bool = False  # True: false_positive_ratio is the repo's no-op
    neighbours: str = "batch"  # batch: nearest view in the global batch | index: whole train set
    index_k: int = 5  # neighbours=index: neighbours kept per sample; one is drawn per step
    projection_dim: int = 128  # random_projection teacher's output dimension
    teacher_seed: int = 0  # random_projection teacher's matrix

    def validate(self) -> None:
        check_choice("method.resampling.teacher", self.teacher, ["none", *TEACHERS.names()])
        check_choice("method.resampling.neighbours", self.neighbours, NEIGHBOUR_SOURCES)
        for name in RATIO_FIELDS:
            check_range(f"method.resampling.{name}", getattr(self, name), 0.0, 1.0)
        check_range("method.resampling.index_k", self.index_k, 1)
        check_range("method.resampling.projection_dim", self.projection_dim, 1)
        check_range("method.resampling.teacher_seed", self.teacher_seed, 0, 2**32 - 1)
        if self.uses_teacher and self.teacher == "none":
            raise MMCLError(
                "method.resampling: a ratio or neighbours=index needs a teacher; set "
                "method.resampling.teacher=clip_run (with teacher_path), open_clip, "
                "random_projection or label_oracle"
            )
        if self.neighbours == "index" and self.batch_ratios_used:
            raise MMCLError(
                "method.resampling.neighbours=index adds one dataset neighbour per anchor; "
                "the in-batch ratios must then be 0 (set them to 0 or use neighbours=batch)"
            )

    @property
    def batch_ratios_used(self) -> bool:
        return any(getattr(self, name) > 0 for name in RATIO_FIELDS)

    @property
    def uses_teacher(self) -> bool:
        return self.batch_ratios_used or self.neighbours == "index"


RATIO_FIELDS = (
    "new_positive_ratio",
    "easy_negative_ratio",
    "false_negative_ratio",
    "false_positive_ratio",
)
