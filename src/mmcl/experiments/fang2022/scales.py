"""Sizes of the fang2022 study at each scale: worlds, reference run, testbed grid and seeds.

The numbers, and why, are in configs/fang2022/scales.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmcl.errors import MMCLError
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.registry import unknown_name_message


@dataclass(frozen=True)
class FangScale:
    """Sizes of one scale. The reference run (width, steps, n_train) is what causes compare.

    The testbed (the baseline line) is trained once, seed 0; every cause model is trained once
    per seed of `seeds`, so each ΔER carries training-seed variance.
    """

    n_train: int
    n_test: int  # per test split
    steps: int
    width: int  # small_cnn width of the reference run
    batch_size: int
    testbed_widths: tuple[int, ...]  # small_cnn widths x testbed_steps, at n_train
    testbed_steps: tuple[int, ...]
    testbed_sizes: tuple[int, ...]  # further sizes, reference width and steps
    testbed_archs: tuple[str, ...]  # timm towers trained at the reference steps and size
    # Every testbed run is also scored at its checkpoints every `snapshot_every` steps (0: none):
    # each is a model of a smaller budget, a testbed point for scoring time only.
    snapshot_every: int = 0
    # Testbed models below this ID accuracy are plotted but not fitted: they read the background,
    # not the shape, so they are no standard model of the task (as Taori's line leaves out models
    # under 55 % ImageNet).
    fit_floor: float = 0.0
    seeds: tuple[int, ...] = (0, 1, 2)
    size_fraction: float = 0.25  # cause (i): the smaller training set, as a share of n_train
    bootstrap: int = 1000
    jobs: int = 2  # parallel training processes
    text: tuple[str, ...] = ("model.text_width=64", "model.text_layers=1", "model.embed_dim=64")
    recipe: tuple[str, ...] = ()  # further training overrides every run shares (lr, precision)
    # CLIP's captions: the class always, style / size / position words sometimes. Captions that
    # also name colour, texture and background (the world's default) make small CLIP models
    # learn those first: after 300 steps ID accuracy 0.19 (background only) vs 0.45 with these.
    # On fashion (no size or position attribute) they name the item and sometimes its style.
    caption_probs: str = "{style: 0.5, size: 0.3, position: 0.3}"

    def __post_init__(self) -> None:
        if self.snapshot_every < 0:
            raise MMCLError(f"snapshot_every must be >= 0 (0: none), got {self.snapshot_every}")
        if not 0 <= self.fit_floor < 1:
            raise MMCLError(f"fit_floor must lie in [0, 1) (ID accuracy), got {self.fit_floor}")

    def common(self) -> tuple[str, ...]:
        """Overrides every run shares: batch and text tower. The test-set size is not among
        them: it belongs to the evaluation world, so changing it rescores but never retrains."""
        return (
            f"train.batch_size={self.batch_size}",
            "eval.after_train=false",
            *self.text,
            *self.recipe,
        )


SCALES = read_grid(grid_path("fang2022", "scales.yaml"), ("scales",)).table(FangScale, "scales")


def get_scale(name: str) -> FangScale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("fang2022 scale", name, list(SCALES)))
    return SCALES[name]
