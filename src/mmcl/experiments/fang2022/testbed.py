"""The baseline testbed on the `shapes` world: a family of standard supervised models whose ID vs
OOD accuracies trace the line that effective robustness is measured from (Taori et al. 2020;
Fang et al. 2022 use imagenet-testbed's ImageNet models the same way).

Worlds. The *narrow* world plays ImageNet: a mild spurious background (each class on its
preferred background 20 % of the time instead of 10 %), photos only, eight of the ten colours.
Every model of the study, whatever it was trained on, is scored on the narrow world's `id` split
and its three shifts (background reversed, sketches, the two unseen colours). The *diverse*
world (cause ii) has the same size and classes but more of everything the narrow one lacks:
backgrounds independent of the class, a quarter sketches, one more colour (pink).
A spurious background much stronger than 20 % is avoided on purpose: at CPU sizes the small
models then learn the background alone (ID accuracy = its strength, every shift at chance) and
the testbed collapses to one point.

The testbed varies width, architecture (the small CNN and timm's tiny `test_byobnet` and
`test_vit`), training steps and training-set size; every model is trained once and cached
(`mmcl.experiments.fang_runs`), so `mmcl testbed shapes` and `mmcl repro fang2022` share them.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.worlds.cache import default_cache_dir
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.experiments.fang2022.runs import SHIFTS, RunSpec, Settings
from mmcl.registry import unknown_name_message

NARROW = {"spurious_strength": 0.2, "sketch_fraction": 0.0, "heldout_colors": ["pink", "cyan"]}
DIVERSE = {"spurious_strength": 0.1, "sketch_fraction": 0.25, "heldout_colors": ["cyan"]}
WORLDS = {"narrow": NARROW, "diverse": DIVERSE}
BASELINE_GROUP = "baseline"  # the scatter greys this group
BASELINE_TEXT = "testbed: cross-entropy models trained on the narrow world"


@dataclass(frozen=True)
class FangScale:
    """Sizes of one scale. The reference run (width, steps, n_train) is what causes compare."""

    n_train: int
    n_test: int  # per test split
    steps: int
    width: int  # small_cnn width of the reference run
    batch_size: int
    testbed_widths: tuple[int, ...]
    testbed_steps: tuple[int, ...]
    testbed_sizes: tuple[int, ...]
    testbed_archs: tuple[str, ...]  # timm towers trained at the reference steps and size
    size_fractions: tuple[float, ...] = (1.0, 0.5, 0.25)  # cause (i)
    bootstrap: int = 1000
    jobs: int = 2  # parallel training processes
    text: tuple[str, ...] = ("model.text_width=64", "model.text_layers=1", "model.embed_dim=64")
    # CLIP's captions: the class always, style / size / position words sometimes. Captions that
    # also name colour, texture and background (the world's default) make small CLIP models
    # learn those first: after 300 steps ID accuracy 0.19 (background only) vs 0.45 with these.
    caption_probs: str = "{style: 0.5, size: 0.3, position: 0.3}"

    def common(self) -> tuple[str, ...]:
        """Overrides every run shares: batch and text tower. The test-set size is not among
        them: it belongs to the evaluation world, so changing it rescores but never retrains."""
        return (f"train.batch_size={self.batch_size}", "eval.after_train=false", *self.text)


SCALES = {
    "tiny": FangScale(
        n_train=4000, n_test=2000, steps=300, width=8, batch_size=128,
        testbed_widths=(4, 8), testbed_steps=(100, 300), testbed_sizes=(1000, 4000),
        testbed_archs=("test_byobnet", "test_vit"),
    ),
    "small": FangScale(
        n_train=8000, n_test=4000, steps=800, width=16, batch_size=256,
        testbed_widths=(4, 8, 16), testbed_steps=(200, 800), testbed_sizes=(2000, 8000),
        testbed_archs=("test_byobnet", "test_vit", "test_vit3"),
        size_fractions=(1.0, 0.5, 0.25, 0.125),
    ),
    "paper": FangScale(
        n_train=40_000, n_test=10_000, steps=4000, width=32, batch_size=256,
        testbed_widths=(8, 16, 32), testbed_steps=(500, 1500, 4000),
        testbed_sizes=(5000, 20_000, 40_000), testbed_archs=("test_byobnet", "test_vit3"),
        size_fractions=(1.0, 0.5, 0.25, 0.125), jobs=4,
    ),
}  # fmt: skip


def get_scale(name: str) -> FangScale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("fang2022 scale", name, list(SCALES)))
    return SCALES[name]


def world_overrides(world: str, n_train: int) -> tuple[str, ...]:
    """RunConfig overrides selecting the narrow or diverse world at a training-set size."""
    knobs = WORLDS[world]
    colors = ",".join(knobs["heldout_colors"])
    return (
        f"data.shapes.n_train={n_train}",
        f"data.shapes.spurious_strength={knobs['spurious_strength']}",
        f"data.shapes.sketch_fraction={knobs['sketch_fraction']}",
        f"data.shapes.heldout_colors=[{colors}]",
    )


def eval_world(scale: FangScale) -> ShapesConfig:
    """The narrow world at the reference size: its `id` and shifts score every model."""
    return ShapesConfig(n_train=scale.n_train, n_test=scale.n_test, **_copy(NARROW))


def _copy(knobs: dict) -> dict:
    return {k: list(v) if isinstance(v, list) else v for k, v in knobs.items()}


def schedule(steps: int) -> tuple[str, ...]:
    return (f"train.steps={steps}", f"train.warmup_steps={max(1, steps // 10)}")


def supervised_spec(
    arch: str, width: int, steps: int, n_train: int, world: str = "narrow"
) -> RunSpec:
    """A cross-entropy model; baseline when trained on the narrow world."""
    tower = (
        ("model.image=small_cnn", f"model.width={width}")
        if arch == "small_cnn"
        else ("model.image=timm", f"model.timm_name={arch}")
    )
    short = f"cnn{width}" if arch == "small_cnn" else arch
    narrow = world == "narrow"
    return RunSpec(
        name=f"ce-{short}-s{steps}-n{n_train}" + ("" if narrow else f"-{world}"),
        group=BASELINE_GROUP if narrow else f"CE on {world}",
        overrides=(
            "method.name=supervised",
            *tower,
            *schedule(steps),
            *world_overrides(world, n_train),
        ),
        baseline=narrow,
    )


def reference_ce(scale: FangScale, world: str = "narrow") -> RunSpec:
    return supervised_spec("small_cnn", scale.width, scale.steps, scale.n_train, world)


def testbed_specs(scale: FangScale) -> list[RunSpec]:
    """The grid: widths x steps x sizes of the small CNN, the timm towers at the reference
    steps and size, and the reference run itself (cause iii's control), without repeats."""
    grid = itertools.product(scale.testbed_widths, scale.testbed_steps, scale.testbed_sizes)
    specs = [supervised_spec("small_cnn", w, s, n) for w, s, n in grid]
    specs += [
        supervised_spec(a, scale.width, scale.steps, scale.n_train) for a in scale.testbed_archs
    ]
    specs.append(reference_ce(scale))
    return list({s.name: s for s in specs}.values())


def settings(
    scale: FangScale, cache: str | Path | None = None, jobs: int | None = None
) -> Settings:
    """Run settings: runs under `<cache>/fang2022`, worlds under `<cache>/worlds`; `jobs`
    defaults to the scale's, at most one per CPU core."""
    root = Path(cache) if cache is not None else default_cache_dir()
    return Settings(
        root=root / "fang2022",
        eval_world=eval_world(scale),
        common=scale.common(),
        world_cache=str(root),
        jobs=min(scale.jobs, os.cpu_count() or 1) if jobs is None else jobs,
    )


__all__ = ["SCALES", "SHIFTS", "FangScale", "get_scale", "settings", "testbed_specs"]
