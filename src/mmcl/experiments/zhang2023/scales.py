"""zhang2023's scales: theory world sizes, the training grid, seeds and processes per scale.

`tiny` and `small` train on a world (a CPU stand-in: `shapes`, or another through `--set
data.world=...`, e.g. `fashion`); `paper` is spec 2.3's ImageNet-100 / ResNet-18 recipe, whose
data and CLIP checkpoint come from `--set` values (`resampling.paper_overrides`). The theory
part of `paper` runs at the `small` world sizes.
The scales, and why, are in configs/zhang2023/scales.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmcl.errors import MMCLError
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.experiments.registry import seed_list
from mmcl.experiments.zhang2023 import resampling as zr
from mmcl.experiments.zhang2023 import theory
from mmcl.experiments.zhang2023.grid import GridPlan
from mmcl.experiments.zhang2023.probes import TEXT_RUN
from mmcl.registry import unknown_name_message
from mmcl.stats import PER_SEED, SHARED

ALL_RUNS = (*zr.VARIANTS, TEXT_RUN)


@dataclass(frozen=True)
class ZhangScale:
    """One scale: `grid` None means the paper recipe (no world, no teacher training)."""

    theory: theory.TheoryScale
    grid: zr.ResamplingScale | None
    seeds: tuple[int, ...]
    n_pairs: int  # pairs per kind for the pair statistics (0: none)
    jobs: int = 2  # training processes side by side, one torch thread each
    runs: tuple[str, ...] = ALL_RUNS  # per seed, on a world (the paper recipe drops WORLD_ONLY)

    def __post_init__(self) -> None:
        for run in self.runs:
            if run not in ALL_RUNS:
                raise MMCLError(unknown_name_message("zhang2023 run", run, ALL_RUNS))


# `theory` and `grid` name a scale of theory.yaml and resampling.yaml.
SCALES = read_grid(grid_path("zhang2023", "scales.yaml"), ("scales",)).table(
    ZhangScale, "scales", refs={"theory": theory.SCALES, "grid": zr.SCALES}
)


def resolve(name: str) -> ZhangScale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("zhang2023 scale", name, SCALES))
    return SCALES[name]


def grid_plan(
    scale: ZhangScale, seeds: int | None, out_dir: Path, overrides: Sequence[str] = ()
) -> GridPlan:
    """The training grid of a scale; the paper recipe fails fast without its data paths."""
    chosen = seed_list(seeds, scale.seeds)
    folder = out_dir / "runs"
    if scale.grid is None:
        variants = tuple(v for v in zr.VARIANTS if v not in zr.WORLD_ONLY)
        base = tuple(zr.paper_overrides(overrides))
        return GridPlan(base, chosen, folder, variants, jobs=scale.jobs)
    g = scale.grid
    return GridPlan(tuple(g.overrides()), chosen, folder, scale.runs, tuple(overrides),
                    g.steps, g.teacher_steps, scale.n_pairs, scale.jobs,
                    tuple(g.teacher_overrides()))  # fmt: skip


def gate_budget(plan: GridPlan) -> list[str] | None:
    """The grid's world and budget, for the learnability gate of the slow paper-gate test; None
    for the paper recipe (the user's data: no gate). The repro itself runs no gate: its claims
    check their own arms (`preconditions`)."""
    return None if plan.steps is None else plan.overrides(plan.steps)


def test_design(scale: ZhangScale, prepared: Sequence[dict] = ()) -> str:
    """The resampling grid's test design: on a rendered world each seed renders its own test
    splits (`data.shapes.seed` = the seed): PER_SEED; the paper recipe scores every seed on the
    one ImageNet val folder, and on a world of real photos (`prepared` seeds with 'test_photos',
    `fashion`) every seed's test images show the same pool of test photos, only re-tinted and
    re-placed, so their sampling noise is common to the seeds: SHARED."""
    if scale.grid is None or any("test_photos" in p for p in prepared):
        return SHARED
    return PER_SEED
