"""The baseline testbed on the run's world (`shapes`, or `fashion` with `data.world=fashion`): a
family of standard supervised models whose ID vs OOD accuracies trace the line that effective
robustness is measured from (Taori et al. 2020; Fang et al. 2022 use imagenet-testbed's ImageNet
models the same way).

The world. Every run of the study trains on the world the user's overrides select (`--set
data.world=...`; `shapes` by default), and the evaluation world is that same world
(`run_world`, `eval_world`): the narrow and diverse worlds below are knobs of `data.shapes`,
which `fashion` reads too (its photos' class is the `item`, on 10 class-linked backgrounds as
shapes has 10), so one set of knobs makes both worlds' narrow and diverse versions. A world
without those knobs or without the study's shift splits is refused by name.

Worlds. The *narrow* world plays ImageNet: a mild spurious background (each class on its
preferred background 20 % of the time instead of 10 %), photos only, four colours (red, green,
blue, yellow). The *diverse* world (cause ii) has the same size and classes and more of what the
narrow one lacks: backgrounds independent of the class and eight colours (orange, purple, white
and black added). Every model of the study, whatever it was trained on, is scored on the narrow
world's `id` split and on two shifts that NEITHER world trains on (`SHIFTS` in `runs`): sketches
(both worlds are all photos) and the colours pink and cyan (held out of both palettes). So the
diverse world's extra variety never shows it a test shift's factor; the background shift
(`spurious_reversed`) is left out because class-independent backgrounds would make it
in-distribution for the diverse world. `shift_leaks` checks this on the configs.
A spurious background much stronger than 20 % is avoided on purpose: at CPU sizes the small
models then learn the background alone (ID accuracy = its strength, every shift at chance) and
the testbed collapses to one point.

The testbed varies width, architecture (the small CNN and timm's tiny `test_byobnet` and
`test_vit`), training steps and training-set size; every model is trained once (seed 0) and
cached (`runs`), so `mmcl testbed shapes` and `mmcl repro fang2022` share them. Each run is also
scored at a checkpoint every `snapshot_every` steps (`with_snapshots`): a model of a smaller
budget whose accuracy lies between chance and the final run's, where the models the line judges
lie, for scoring time only. Testbed models under `fit_floor` ID accuracy (3x chance: they read
the background) are plotted, not fitted (`fitted_points`).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl.config import load_config
from mmcl.data.config import DataConfig
from mmcl.data.worlds import World, get_world
from mmcl.data.worlds.cache import default_cache_dir
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.eval.robustness import ModelPoint
from mmcl.experiments.fang2022.runs import SHIFTS, RunSpec, Settings, snapshot
from mmcl.experiments.fang2022.scales import SCALES, FangScale, get_scale
from mmcl.train.config import RunConfig

HELDOUT_COLORS = ["pink", "cyan"]  # the `unseen_colors` shift: in neither world's palette
NARROW = {
    "spurious_strength": 0.2,
    "sketch_fraction": 0.0,
    "heldout_colors": HELDOUT_COLORS,
    "seen_colors": ["red", "green", "blue", "yellow"],
}
DIVERSE = {
    "spurious_strength": 0.1,  # 10 backgrounds: 0.1 = independent of the class
    "sketch_fraction": 0.0,
    "heldout_colors": HELDOUT_COLORS,
    "seen_colors": ["red", "green", "blue", "yellow", "orange", "purple", "white", "black"],
}
WORLDS = {"narrow": NARROW, "diverse": DIVERSE}
BASELINE_GROUP = "baseline"  # the scatter greys this group
BELOW_FLOOR_GROUP = "testbed, under the fit floor"
BASELINE_TEXT = "testbed: cross-entropy models trained on the narrow world"
# The knobs the narrow and diverse worlds set: a world's config must have them all.
KNOBS = ("n_train", "n_test", *NARROW)


@dataclass(frozen=True)
class RunWorld:
    """The world every run of the study trains and is scored on: its registered name and its own
    options (`data.world_options`, e.g. fashion's `root`; empty for shapes)."""

    name: str = "shapes"
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def world(self) -> World:
        return get_world(self.name)[0]


def run_world(overrides: Sequence[str] = ()) -> RunWorld:
    """The world the user's overrides (`--set`) select, checked to carry the study: the narrow
    and diverse knobs (`KNOBS`) and the shift splits (`SHIFTS`)."""
    data = load_config(RunConfig, None, list(overrides)).data
    chosen = RunWorld(data.world, tuple(sorted(data.world_options.items())))
    cfg = world_config("narrow", 1, run=chosen)
    missing = [k for k in KNOBS if not hasattr(cfg, k)]
    missing += [f"split {s}" for s in SHIFTS if s not in chosen.world.splits]
    if missing:
        raise MMCLError(
            f"data.world={chosen.name}: fang2022 needs a world with the shapes knobs and shifts "
            f"(it lacks {', '.join(missing)}); worlds that have them: shapes, fashion"
        )
    return chosen


def world_config(world: str, n_train: int, n_test: int = 1, *, run: RunWorld = RunWorld()) -> Any:
    """The narrow or diverse version of the run's world as that world's config (a ShapesConfig
    for shapes, exactly as before worlds were chosen; a FashionConfig for fashion)."""
    knobs = {k: list(v) if isinstance(v, list) else v for k, v in WORLDS[world].items()}
    shapes = ShapesConfig(n_train=n_train, n_test=n_test, **knobs)
    if run.name == "shapes" and not run.options:
        return shapes
    return DataConfig(world=run.name, shapes=shapes, world_options=dict(run.options)).world_config()


def world_overrides(world: str, n_train: int) -> tuple[str, ...]:
    """RunConfig overrides selecting the narrow or diverse world at a training-set size."""
    knobs = WORLDS[world]
    return (
        f"data.shapes.n_train={n_train}",
        f"data.shapes.spurious_strength={knobs['spurious_strength']}",
        f"data.shapes.sketch_fraction={knobs['sketch_fraction']}",
        f"data.shapes.heldout_colors=[{','.join(knobs['heldout_colors'])}]",
        f"data.shapes.seen_colors=[{','.join(knobs['seen_colors'])}]",
    )


def eval_world(scale: FangScale, run: RunWorld = RunWorld()) -> Any:
    """The narrow world at the reference size: its `id` and shifts score every model."""
    return world_config("narrow", scale.n_train, scale.n_test, run=run)


def chance(cfg: Any) -> float:
    """Chance accuracy of a world config's label (1 / its classes: 10 shapes, 10 items)."""
    world, cfg = get_world(cfg)
    return 1.0 / len(world.attribute_values[cfg.label])


def shift_leaks(train: Any, evaluation: Any) -> list[str]:
    """The evaluation shifts' factors that a training world shows (none, by design)."""
    leaks = []
    if "sketch" in SHIFTS and train.sketch_fraction > 0:
        leaks.append(f"sketches ({train.sketch_fraction:.0%} of training)")
    if "unseen_colors" in SHIFTS:
        palette = train.seen_colors or []
        leaks += [f"colour {c}" for c in evaluation.heldout_colors if c in palette]
    return leaks


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


def gate_budget(scale: FangScale, overrides: Sequence[str] = ()) -> list[str]:
    """The reference run's world and budget: what the learnability gate checks."""
    return [*scale.common(), *reference_ce(scale).overrides, *overrides]


def snapshot_steps(steps: int, every: int) -> tuple[int, ...]:
    """The earlier steps a run of `steps` is scored at, every `every` (0: none)."""
    return tuple(range(every, steps, every)) if every else ()


def with_snapshots(spec: RunSpec, every: int) -> RunSpec:
    """The run scored at its final weights and at a checkpoint every `every` steps, each a
    testbed model of a smaller budget; training keeps those checkpoints (not in the cache key:
    the same run, seed 0, still serves cause iii's control)."""
    steps = load_config(RunConfig, None, list(spec.overrides)).train.steps
    kept = snapshot_steps(steps, every)
    if not kept:
        return spec
    keep = (f"train.checkpoint_every={every}", f"train.keep_checkpoints={len(kept) + 1}")
    return dataclasses.replace(
        spec,
        overrides=(*spec.overrides, *keep),
        evals=(*spec.evals, *(snapshot(k) for k in kept)),
    )


def testbed_specs(scale: FangScale) -> list[RunSpec]:
    """The grid: widths x steps of the small CNN at n_train, the reference run at the other
    sizes, the timm towers at the reference steps and size, and the reference run itself
    (cause iii's control, seed 0), without repeats; each also scored at its snapshots."""
    grid = itertools.product(scale.testbed_widths, scale.testbed_steps)
    specs = [supervised_spec("small_cnn", w, s, scale.n_train) for w, s in grid]
    specs += [
        supervised_spec("small_cnn", scale.width, scale.steps, n) for n in scale.testbed_sizes
    ]
    specs += [
        supervised_spec(a, scale.width, scale.steps, scale.n_train) for a in scale.testbed_archs
    ]
    specs.append(reference_ce(scale))
    unique = {s.name: s for s in specs}.values()
    return [with_snapshots(s, scale.snapshot_every) for s in unique]


def fitted_points(points: Sequence[ModelPoint], floor: float) -> list[ModelPoint]:
    """The points with testbed models under the fit floor (`FangScale.fit_floor`, an ID
    accuracy fixed before the run) left out of the line: plotted, never fitted."""
    return [
        dataclasses.replace(p, baseline=False, group=BELOW_FLOOR_GROUP)
        if p.baseline and p.id_acc < floor
        else p
        for p in points
    ]


def check_baseline_spread(points: Sequence[ModelPoint]) -> None:
    """A line needs >= 3 fitted testbed models at different ID accuracies (scipy refuses
    identical x; `fitted_points` leaves out those under the fit floor)."""
    ids = {round(p.id_acc, 12) for p in points if p.baseline}
    if len(ids) < 3:
        raise MMCLError(
            f"only {len(ids)} distinct ID accurac{'y' if len(ids) == 1 else 'ies'} among the "
            "testbed models above the fit floor, so no line can be fitted: the testbed models "
            "learned too little to tell them apart; use a larger scale (more steps or data)"
        )


def settings(
    scale: FangScale,
    cache: str | Path | None = None,
    jobs: int | None = None,
    overrides: Sequence[str] = (),
) -> Settings:
    """Run settings: runs under `<cache>/fang2022`, worlds under `<cache>/worlds`; `jobs`
    defaults to the scale's, at most one per CPU core; `overrides` (`--set`) go last, and the
    world they select (`run_world`) is the evaluation world too."""
    root = Path(cache) if cache is not None else default_cache_dir()
    return Settings(
        root=root / "fang2022",
        eval_world=eval_world(scale, run_world([*scale.common(), *overrides])),
        common=scale.common(),
        overrides=tuple(overrides),
        world_cache=str(root),
        jobs=min(scale.jobs, os.cpu_count() or 1) if jobs is None else jobs,
    )


__all__ = [
    "SCALES",
    "SHIFTS",
    "FangScale",
    "RunWorld",
    "check_baseline_spread",
    "fitted_points",
    "gate_budget",
    "get_scale",
    "run_world",
    "settings",
    "testbed_specs",
]
