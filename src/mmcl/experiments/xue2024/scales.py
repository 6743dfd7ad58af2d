"""Size presets of the xue2024 sweeps: vector data (every learner) and the shapes image runs.

The numbers, and why, are in configs/xue2024/scales.yaml. Seeds: >= 3 at `tiny` and >= 5 at
`small` (issue 13); `tiny` must run in under 10 minutes on 2 CPU cores. The image runs at `tiny`
are the calibrated world and budget (`mmcl.experiments.calibrated`, the demo's): the smallest at
which the learnability gate holds; every scale runs the gate at its own budget. Their spurious
strength is the highest at which the supervised arm learns the shape (a pilot of that arm alone,
in the YAML), never chosen by a CLIP result.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmcl.errors import MMCLError
from mmcl.experiments import calibrated
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.registry import unknown_name_message


@dataclass(frozen=True)
class VectorScale:
    """Vector sweeps: pairs per training set, per test split, Adam / GD steps, seeds."""

    n: int
    n_test: int  # large: the C3 differences the squared model predicts are a few 0.001
    steps: int  # InfoNCE Adam steps (mini-batch)
    sl_steps: int
    check_steps: int  # full-batch Adam on the linearized losses, checked against closed forms
    seeds: tuple[int, ...]
    jobs: int = 2  # (seed, sweep) tasks run at once, one process each


@dataclass(frozen=True)
class ImageScale:
    """Size preset of the image sweep (both methods get the same world, tower and steps)."""

    n_train: int
    n_test: int  # per test split
    steps: int
    width: int  # small_cnn width
    batch_size: int
    seeds: tuple[int, ...]
    extra: tuple[str, ...] = ()  # further RunConfig overrides
    # P(a caption names each detail of its preset). Below 1 some captions name the class alone,
    # as the zero-shot prompts do; at 1 every caption of `rich` has one fixed form and class-only
    # prompts fall outside it (measured at small: id zero-shot 0.24 at 1.0, 0.91 at 0.5).
    # 0.5 is the world's default caption probability for these details.
    caption_mention: float = 0.5
    # P(background = the class's own) in train and `id`: set per scale in the YAML to the highest
    # strength at which the supervised arm learns the shape (the claims' precondition); 0.9 is
    # the world's default.
    spurious_strength: float = 0.9
    jobs: int = 2  # runs trained at once, each in its own process
    threads: int = 1  # torch CPU threads per run; 0 keeps torch's own setting

    def overrides(self) -> list[str]:
        return [
            f"data.shapes.n_train={self.n_train}",
            f"data.shapes.n_test={self.n_test}",
            f"data.shapes.caption_mention={self.caption_mention}",
            f"data.shapes.spurious_strength={self.spurious_strength}",
            f"train.steps={self.steps}",
            f"train.warmup_steps={max(1, self.steps // 10)}",
            f"train.batch_size={self.batch_size}",
            f"train.checkpoint_every={self.steps}",
            f"model.width={self.width}",
            *self.extra,
        ]


GRID = read_grid(grid_path("xue2024", "scales.yaml"), ("vector", "images"))
VECTOR_SCALES = GRID.table(VectorScale, "vector")
# `extra: calibrated` in a file: the image runs train on the calibrated budget.
IMAGE_SCALES = GRID.table(ImageScale, "images", refs={"extra": {"calibrated": calibrated.BUDGET}})


def vector_scale(name: str) -> VectorScale:
    if name not in VECTOR_SCALES:
        raise MMCLError(unknown_name_message("xue2024 scale", name, list(VECTOR_SCALES)))
    return VECTOR_SCALES[name]


def image_scale(name: str) -> ImageScale:
    if name not in IMAGE_SCALES:
        raise MMCLError(unknown_name_message("xue2024 image scale", name, list(IMAGE_SCALES)))
    return IMAGE_SCALES[name]
