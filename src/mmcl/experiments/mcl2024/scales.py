"""mcl2024 scales (world size, per-stage budgets, seeds) and the training runs of one seed.

Every seed trains, on its own world (world seed = training seed; `data.world`, shapes by
default, with the world's overrides of configs/mcl2024/worlds.yaml: shapes' grey canvas):
- `simclr-mcl`: MCL around SimCLR, `stages` stages with accumulated groups (mmcl's default);
- `simclr-mcl-latest`: the same run with the reference code's `latest_only` groups. Stages 1-2
  are the same stages either way (their groups come from at most one clustering), so the run
  starts from a copy of them and trains stage 3 only (spec item 6);
- `simclr-control`: an ordinary second SimCLR run on random batches (seed + 1, as MCL's stage 2),
  concatenated with stage 1 (spec item 5, control A);
- `simclr-wide`: one SimCLR model of twice the width, so its backbone has as many features as
  stages 1-2 concatenated (features = 8 x width): the equal-width baseline;
- `clip-mcl`: MCL around CLIP (2 stages) on captions naming every attribute; its stage 1 is
  the CLIP baseline of the MMVP-style comparison (spec item 9).

The scales' numbers, and the overrides every run shares, are in configs/mcl2024/scales.yaml,
with the design its MMVP-style pair counts are sized for (`PairDesign`, checked on reading).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mmcl.config import load_config
from mmcl.data.worlds import WORLDS
from mmcl.errors import MMCLError
from mmcl.experiments.grids import build, grid_path, read_grid
from mmcl.experiments.mcl2024 import power
from mmcl.registry import unknown_name_message
from mmcl.train.config import RunConfig

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

GRID = read_grid(grid_path("mcl2024", "scales.yaml"), ("shared", "mmvp_design", "scales"))
SHARED = GRID.strings("shared")  # the model and training of every run, whatever the scale


def read_worlds(path: Path | Traversable) -> dict[str, tuple[str, ...]]:
    """worlds.yaml: per registered world, the overrides that make it MCL's design."""
    grid = read_grid(path, ("worlds",))
    entries = grid.mapping("worlds", list)
    for name, value in entries.items():
        if name not in WORLDS:
            raise MMCLError(f"{grid.source}: worlds: {unknown_name_message('world', name, WORLDS)}")
        if not all(isinstance(v, str) for v in value):
            raise MMCLError(f"{grid.source}: worlds.{name} must be a list of strings: {value!r}")
    return {name: tuple(value) for name, value in entries.items()}


WORLD_OVERRIDES = read_worlds(grid_path("mcl2024", "worlds.yaml"))
CLIP_STAGES = 2  # CLIP baseline (stage 1) and one MCL stage: what the MMVP claims compare


@dataclass(frozen=True)
class Scale:
    """One scale's budgets; `steps` and `clip_steps` are per stage, `mmvp_pairs` per attribute."""

    n_train: int
    n_test: int  # the balanced split: half fits the probes, half scores them
    steps: int
    width: int
    batch_size: int
    stages: int  # SimCLR MCL stages: >= 3, stage 3 is where latest_only differs (S6)
    clip_steps: int
    mmvp_pairs: int
    seeds: tuple[int, ...]
    jobs: int = 2  # trainings side by side (one torch thread each)
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.stages < 3:
            raise MMCLError("mcl2024 needs >= 3 SimCLR stages: S6 compares their stage 3")

    def overrides(self, world: str = "shapes") -> list[str]:
        """The world and model every run of this scale shares: the world's own overrides
        (`WORLD_OVERRIDES`), `SHARED` and the sizes."""
        if world not in WORLD_OVERRIDES:
            raise MMCLError(
                f"mcl2024 on data.world={world}: configs/mcl2024/worlds.yaml names no overrides "
                f"for it (worlds: {', '.join(WORLD_OVERRIDES)})"
            )
        return [
            *WORLD_OVERRIDES[world],
            *SHARED,
            f"data.shapes.n_train={self.n_train}",
            f"data.shapes.n_test={self.n_test}",
            f"model.width={self.width}",
            f"train.batch_size={self.batch_size}",
            f"train.precision={self.precision}",
        ]


@dataclass(frozen=True)
class PairDesign:
    """What the pairs per attribute are sized for (`power`): a `difference` between two models'
    pair accuracies left decidable by pair sampling at a scale's seeds, given the per-pair
    variance of their paired difference (`pair_variance`, measured on a run)."""

    difference: float
    pair_variance: float


def check_pairs(scales: dict[str, Scale], design: PairDesign, source: str) -> None:
    """Refuse a scale with fewer pairs per attribute than `design` asks at its seeds."""
    for name, sc in scales.items():
        if len(sc.seeds) < 2:
            raise MMCLError(f"{source}: scales.{name}.seeds: MMVP pairs need >= 2 seeds; add seeds")
        needed = power.pairs_needed(design.pair_variance, design.difference, len(sc.seeds))
        if sc.mmvp_pairs < needed:
            raise MMCLError(
                f"{source}: scales.{name}.mmvp_pairs = {sc.mmvp_pairs} is below the {needed} "
                f"pairs per attribute mmvp_design asks at {len(sc.seeds)} seeds; raise it"
            )


PAIR_DESIGN = build(PairDesign, GRID.sections["mmvp_design"], f"{GRID.source}: mmvp_design", {})
SCALES = GRID.table(Scale, "scales")
check_pairs(SCALES, PAIR_DESIGN, GRID.source)

RUNS = ("simclr-mcl", "simclr-mcl-latest", "simclr-control", "simclr-wide", "clip-mcl")


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("mcl2024 scale", name, list(SCALES)))
    return SCALES[name]


def world_of(overrides: Sequence[str]) -> str:
    """The world the user's overrides train on (`data.world`; shapes by default)."""
    return load_config(RunConfig, None, [*SHARED, *overrides]).data.world


def _config(sc: Scale, name: str, seed: int, out_dir: Path, extra: Sequence[str]) -> RunConfig:
    own = [f"name={name}", f"out_dir={out_dir}", f"data.shapes.seed={seed}", f"train.seed={seed}"]
    return load_config(RunConfig, None, [*sc.overrides(world_of(extra)), *own, *extra])


def gate_budget(sc: Scale, world: str = "shapes") -> list[str]:
    """The world and one SimCLR stage's budget: what MCL's learnability gate trains with."""
    return [*sc.overrides(world), *_budget(sc.steps)]


def _budget(steps: int) -> list[str]:
    return [
        f"train.steps={steps}",
        f"train.checkpoint_every={steps}",
        f"train.warmup_steps={max(1, steps // 10)}",
    ]


def run_configs(
    sc: Scale, seed: int, out_dir: Path, overrides: Sequence[str] = ()
) -> dict[str, RunConfig]:
    """The five runs of one seed (see the module docstring); `overrides` go to every run."""
    user = list(overrides)
    mcl = ["method.name=mcl", f"method.mcl.stages={sc.stages}", *_budget(sc.steps)]
    simclr = ["method.name=simclr", *_budget(sc.steps)]
    base = _config(sc, "simclr", seed, out_dir, [*simclr, *user])
    # Twice the (possibly overridden) width: as many backbone features as two stages side by side.
    wide = f"model.width={2 * base.model.width}"
    clip = ["method.name=mcl", "method.mcl.base=clip", f"method.mcl.stages={CLIP_STAGES}",
            *_budget(sc.clip_steps)]  # fmt: skip
    return {
        "simclr-mcl": _config(sc, "simclr-mcl", seed, out_dir, [*mcl, *user]),
        # The same name as the accumulated run: its first two stages are a copy of that run's.
        "simclr-mcl-latest": _config(
            sc, "simclr-mcl", seed, out_dir, [*mcl, *user, "method.mcl.latest_only=true"]
        ),
        # MCL's stage 2 trains under seed + 1 (mmcl.train.stages); so does the control.
        "simclr-control": _config(
            sc, "simclr-control", seed, out_dir, [*simclr, f"train.seed={seed + 1}", *user]
        ),
        "simclr-wide": _config(sc, "simclr-wide", seed, out_dir, [*simclr, *user, wide]),
        "clip-mcl": _config(sc, "clip-mcl", seed, out_dir, [*clip, *user]),
    }
