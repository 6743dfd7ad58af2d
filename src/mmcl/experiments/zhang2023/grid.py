"""The zhang2023 training grid: per seed a CLIP teacher, then every variant, side by side.

Two phases, each `plan.jobs` single-threaded jobs at a time (`mmcl.runs.executors.map_runs`:
local processes, Ray or Slurm): first one job per seed that trains the teacher, renders the
seed's world into the disk cache, measures the teacher's neighbour class agreement (a
precondition, `preconditions.neighbour_agreement`) and the pair statistics; then one job per
(seed, variant), all reading that seed's teacher and world.
A seed is one world (`data.shapes.seed`) and one training seed. The world is the runs' own
(`data.world`, e.g. `--set data.world=fashion`: the user's overrides come last in every run,
teacher included), and what the seed's figures need from it comes from its registry entry
(`get_world`: its noun and attributes for the pair statistics) and its splits (the photos a
test split reuses, `probes.photo_design`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.sources import load_split
from mmcl.data.worlds import get_world
from mmcl.experiments.zhang2023 import pairs
from mmcl.experiments.zhang2023 import resampling as zr
from mmcl.experiments.zhang2023.preconditions import neighbour_agreement
from mmcl.experiments.zhang2023.probes import TEXT_RUN, photo_design
from mmcl.runs.executors import map_runs
from mmcl.runs.teachers import ClipRunTeacher
from mmcl.threads import torch_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridPlan:
    """What to train: `base` (the scale's or the paper recipe's overrides), then each run's own
    steps and method, then `user` (`mmcl repro --set`), so the user's values win."""

    base: tuple[str, ...]
    seeds: tuple[int, ...]
    out_dir: Path
    variants: tuple[str, ...]
    user: tuple[str, ...] = ()
    steps: int | None = None  # None: the base's own schedule (paper recipe)
    teacher_steps: int | None = None  # None: no teacher to train (an open_clip checkpoint)
    n_pairs: int = 0  # > 0: pair statistics per seed (worlds only)
    jobs: int = 2
    teacher: tuple[str, ...] = ()  # what the teacher's run alone adds (its captions)

    def folder(self, seed: int) -> Path:
        return self.out_dir / f"seed{seed}"

    def overrides(self, steps: int | None, *method: str) -> list[str]:
        schedule = zr.step_overrides(steps) if steps else []
        return [*self.base, *schedule, *method, *self.user]

    def runs(self) -> list[str]:
        """Every run of one seed: the variants, the text-positive SimCLR run among them."""
        return list(self.variants)


def prepare_seed(plan: GridPlan, seed: int) -> dict:
    """One seed's teacher and world (into the cache), and what they show before any variant
    trains: {'seed', and on a world 'world' (its name), 'n_classes', 'teacher' (the teacher's
    neighbour agreement, when one is trained), 'pairs' (the pair statistics, when asked) and,
    where test images show real photos, 'test_photos' ({split: `photo_design`})}."""
    folder, prepared = plan.folder(seed), {"seed": seed}
    with torch_threads(1):
        teacher = None
        if plan.teacher_steps:
            clip = plan.overrides(plan.teacher_steps, "method.name=clip", *plan.teacher)
            teacher = zr.train_teacher(seed, folder, clip)
        cfg = zr.run_config("pairs", seed, folder, plan.overrides(plan.steps))
        if cfg.data.format != "world":  # the paper recipe: the user's data, nothing to render
            return prepared
        world, _ = get_world(cfg.data.world)
        prepared["world"] = world.name
        photos = {}
        for split in cfg.eval.splits:
            test = load_split(cfg.data, split)
            if "photos" in test.meta:  # each image shows one of a fixed pool of real photos
                photos[split] = photo_design(test.meta["photos"])
        if photos:
            prepared["test_photos"] = photos
        train = load_split(cfg.data, "train")
        prepared["n_classes"] = len(train.class_names)
        if teacher is not None:
            prepared["teacher"] = neighbour_agreement(ClipRunTeacher(str(teacher)), train,
                                                      cfg.method.augment, cfg.train.batch_size,
                                                      seed)  # fmt: skip
        if plan.n_pairs:
            nuisance = pairs.nuisance_attributes(world)
            prepared["pairs"] = pairs.pair_statistics(train, plan.n_pairs, seed, nuisance)
    return prepared


def train_one(plan: GridPlan, name: str, seed: int) -> list[dict]:
    """Train and probe one run of the grid; its records."""
    folder = plan.folder(seed)
    with torch_threads(1):
        if name == TEXT_RUN:
            return pairs.text_positive_records(seed, folder, plan.overrides(plan.steps))
        teacher = folder / zr.TEACHER_RUN if plan.teacher_steps else None
        method = zr.variant_overrides(name, teacher)
        return zr.train_variant(name, seed, folder, plan.overrides(plan.steps, *method))


def run_grid(plan: GridPlan) -> tuple[list[dict], list[dict]]:
    """(probe records of every run, `prepare_seed`'s dict per seed) of the plan."""
    prepared = map_runs(prepare_seed, [(plan, seed) for seed in plan.seeds], plan.jobs,
                        _progress("teacher/world", len(plan.seeds)))  # fmt: skip
    calls = [(plan, name, seed) for seed in plan.seeds for name in plan.runs()]
    results = map_runs(train_one, calls, plan.jobs, _progress("run", len(calls)))
    return [r for records in results for r in records], list(prepared)


def _progress(what: str, total: int):
    def done(k: int, index: int, result: object) -> None:
        log.info("zhang2023: %s %d/%d done", what, k, total)

    return done
