"""Sizes of the fang2022 study at each scale: worlds, reference run, testbed grid and seeds."""

from __future__ import annotations

from dataclasses import dataclass

from mmcl.errors import MMCLError
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
    seeds: tuple[int, ...] = (0, 1, 2)
    size_fraction: float = 0.25  # cause (i): the smaller training set, as a share of n_train
    bootstrap: int = 1000
    jobs: int = 2  # parallel training processes
    text: tuple[str, ...] = ("model.text_width=64", "model.text_layers=1", "model.embed_dim=64")
    recipe: tuple[str, ...] = ()  # further training overrides every run shares (lr, precision)
    # CLIP's captions: the class always, style / size / position words sometimes. Captions that
    # also name colour, texture and background (the world's default) make small CLIP models
    # learn those first: after 300 steps ID accuracy 0.19 (background only) vs 0.45 with these.
    caption_probs: str = "{style: 0.5, size: 0.3, position: 0.3}"

    def common(self) -> tuple[str, ...]:
        """Overrides every run shares: batch and text tower. The test-set size is not among
        them: it belongs to the evaluation world, so changing it rescores but never retrains."""
        return (
            f"train.batch_size={self.batch_size}",
            "eval.after_train=false",
            *self.text,
            *self.recipe,
        )


# tiny: the calibrated budget (`mmcl.experiments.calibrated`: 450 steps of 128 at lr 0.005, fp32,
# 10,000 images, width 8), the smallest at which a supervised model learns the shape; the runner
# gates it on the narrow world. 7 testbed + 18 cause runs (3 seeds), two at a time.
# n_test 10,000 per split at every scale: the records hold accuracies, not per-image correctness,
# so a ΔER's test-sample error adds the two points' binomial errors in quadrature; at 2,000 that
# is ~1.2 pp, x t(2 df) = 4.3 -> +/-5 pp from test noise alone, as large as the effects compared.
# Scoring is cheap next to training (changing n_test rescores, never retrains).
SCALES = {
    "tiny": FangScale(
        n_train=10_000, n_test=10_000, steps=450, width=8, batch_size=128,
        testbed_widths=(4, 8), testbed_steps=(100, 450), testbed_sizes=(2500,),
        testbed_archs=("test_byobnet", "test_vit"),
        recipe=("train.lr=0.005", "train.precision=fp32"),
    ),
    "small": FangScale(
        n_train=8000, n_test=10_000, steps=800, width=16, batch_size=256,
        testbed_widths=(4, 8, 16), testbed_steps=(200, 800), testbed_sizes=(1000, 2000),
        testbed_archs=("test_byobnet", "test_vit", "test_vit3"), seeds=(0, 1, 2, 3, 4),
    ),
    "paper": FangScale(
        n_train=40_000, n_test=10_000, steps=4000, width=32, batch_size=256,
        testbed_widths=(8, 16, 32), testbed_steps=(500, 1500, 4000),
        testbed_sizes=(5000, 20_000), testbed_archs=("test_byobnet", "test_vit3"),
        seeds=(0, 1, 2, 3, 4), size_fraction=0.125, jobs=4,
    ),
}  # fmt: skip


def get_scale(name: str) -> FangScale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("fang2022 scale", name, list(SCALES)))
    return SCALES[name]
