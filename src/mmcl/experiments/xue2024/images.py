"""Xue et al. 2024 on images: caption richness and CLIP vs supervised, on shapes or real captions.

The small-scale counterpart of the paper's MSCOCO / Conceptual Captions experiment (xue2024.md
in the shared specs, item C6): on the `shapes` world, CLIP is trained with captions of
increasing richness (`caption_preset` label -> background -> rich = background + colour +
texture), and with `details` (colour + texture, never the background: the paper's "type of
detail", C5), and a supervised baseline is trained on the same images (class labels) for the same
steps with the same image tower. CLIP is scored zero-shot, the baseline with its own head, on every
split: `id` and the shifts (spurious background reversed, sketches, unseen colours). On a world
every run also scores the `attributes` task on `balanced` (`eval.attribute_split`), so the claims'
precondition, that the supervised arm learns the shape here, is read from the sweep itself.

Captions come from their own random stream (`mmcl.data.worlds.shapes.split_rngs`), so every
preset of one seed sees exactly the same images. Per-split values are kept in the records; which
splits a claim is decided on is in `image_claims`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmcl import stats
from mmcl.config import load_config
from mmcl.data.worlds import get_world
from mmcl.experiments.xue2024.image_claims import BASELINE, DETAILS, PROBE_SPLIT
from mmcl.experiments.xue2024.scales import image_scale
from mmcl.runs import door
from mmcl.runs.executors import map_runs
from mmcl.train.config import RunConfig

log = logging.getLogger(__name__)

PRESETS = ("label", "background", "rich")  # increasing caption richness (worlds)
WORLD_PRESETS = (*PRESETS, DETAILS)  # what a world's sweep trains CLIP with (C4's chain, C5's)
EDITS = ("label", "no_details", "full")  # the same on captions read from files (COCO, CC, CSV)


def on_files(overrides: Sequence[str]) -> bool:
    """Whether the overrides point training at files (data.format other than world)."""
    formats = [o.split("=", 1)[1] for o in overrides if o.startswith("data.format=")]
    return bool(formats) and formats[-1] != "world"


def image_test_design(overrides: Sequence[str] = ()) -> str:
    """The image sweep's test design (`mmcl.stats`): on a world each seed renders its own test
    splits (`run_config` sets `data.shapes.seed` to the seed, and `shapes.split_rngs` draws every
    split from it), PER_SEED; on files every seed is scored on the same files, SHARED."""
    return stats.SHARED if on_files(overrides) else stats.PER_SEED


def gate_budget(scale: str, overrides: Sequence[str] = ()) -> list[str] | None:
    """The world and budget the learnability gate checks for this scale's image runs; None on
    files (the user's data: no gate)."""
    return None if on_files(overrides) else [*image_scale(scale).overrides(), *overrides]


def caption_setting(overrides: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The config key that sets the captions and the values the sweep trains CLIP with.

    Worlds render captions from a preset: the richness chain, poorest first, then `details`.
    Real captions (COCO, CC) are edited instead: details removed, or the class label alone, as
    the paper's "label" series (no `details` edit: a file's captions do not say which words name
    the shortcut).
    """
    if on_files(overrides):
        return "data.caption_edit", EDITS
    return "data.shapes.caption_preset", WORLD_PRESETS


def eval_tasks(task: str, overrides: Sequence[str]) -> list[str]:
    """A run's tasks: its own predictions (`task`), plus on a world the attribute probes on
    `balanced` that the claims' precondition reads (files have no such split)."""
    return [task] if on_files(overrides) else [task, "attributes"]


def run_config(
    method: str,
    preset: str | None,
    seed: int,
    out_dir: Path,
    overrides: Sequence[str],
) -> RunConfig:
    """One run's config: the shared overrides plus method, caption richness, seeds and name."""
    name = method if preset is None else f"{method}-{preset}"
    own = [
        f"name={name}",
        f"out_dir={out_dir}",
        f"method.name={method}",
        f"data.shapes.seed={seed}",
        f"train.seed={seed}",
        "train.progress=false",
    ]
    if not on_files(overrides):
        own.append(f"eval.attribute_split={PROBE_SPLIT}")
    if preset is not None:
        own.append(f"{caption_setting(overrides)[0]}={preset}")
    return load_config(RunConfig, None, [*overrides, *own])


@dataclass(frozen=True)
class ImageRun:
    """One training run of the sweep and how its records are scored and tagged."""

    cfg: RunConfig
    run_dir: Path
    tasks: list[str]  # zeroshot (CLIP) or classifier (the supervised head), and `eval_tasks`'
    tags: dict


def _train_and_score(run: ImageRun, threads: int) -> list[dict]:
    cfg = run.cfg
    log.info(
        "xue images: training %s (seed %d, %d steps)", cfg.name, cfg.train.seed, cfg.train.steps
    )
    tags = {"experiment": "images", **run.tags}
    # the experiment's own folder: a run of another config there is replaced
    return door.scored(cfg, run.run_dir, run.tasks, tags=tags, replace=True, threads=threads)


def run_images(
    scale: str,
    seeds: Sequence[int] | None,
    out_dir: str | Path,
    overrides: Sequence[str] = (),
    presets: Sequence[str] | None = None,
) -> list[dict]:
    """Train CLIP per caption richness and the supervised baseline per seed; flat records.

    Each record is an `mmcl.eval.tasks` record plus `experiment`, `preset` ("labels" for the
    baseline), `learner` ("clip" or "supervised") and `seed`. `overrides` go after the scale's;
    with `data.format=coco` (or csv, ...) and `data.path`, `data.val_path`, `data.val_shifts`
    the sweep runs on real captions, edited from label-only to full (`EDITS`), and the
    supervised baseline runs only where the data has class labels (`data.csv.label_key`,
    ImageFolder); the paper's own real-data baseline is the label-only caption series.
    Runs train `jobs` at a time; records come back in run order whatever finishes first.
    """
    sc, out_dir = image_scale(scale), Path(out_dir)
    base = [*sc.overrides(), *overrides]
    presets = presets or caption_setting(overrides)[1]
    baseline = not on_files(overrides) or any(
        o.startswith(("data.csv.label_key=", "data.format=imagefolder")) for o in overrides
    )
    runs = [
        run
        for seed in (sc.seeds if seeds is None else seeds)
        for run in _seed_runs(seed, out_dir / f"seed{seed}", base, presets, baseline, overrides)
    ]

    def done(k: int, index: int, _records: list[dict]) -> None:
        log.info("xue images: %d/%d done (%s)", k, len(runs), runs[index].run_dir)

    log.info("xue images: %d runs, %d at a time", len(runs), sc.jobs)
    per_run = map_runs(_train_and_score, [(run, sc.threads) for run in runs], sc.jobs, done)
    return [r for records in per_run for r in records]


def _seed_runs(
    seed: int,
    folder: Path,
    base: list[str],
    presets: Sequence[str],
    baseline: bool,
    overrides: Sequence[str],
) -> list[ImageRun]:
    runs = []
    for preset in presets:
        cfg = run_config("clip", preset, seed, folder, base)
        tags = {"preset": preset, "learner": "clip", "seed": seed, **world_tags(cfg)}
        runs.append(ImageRun(cfg, folder / cfg.name, eval_tasks("zeroshot", overrides), tags))
    if baseline:
        cfg = run_config(BASELINE, None, seed, folder, base)
        tags = {"preset": "labels", "learner": BASELINE, "seed": seed, **world_tags(cfg)}
        runs.append(ImageRun(cfg, folder / cfg.name, eval_tasks("classifier", overrides), tags))
    return runs


def world_tags(cfg: RunConfig) -> dict[str, str]:
    """On a world, its name and its class attribute (the precondition probes it: the shape,
    fashion's item); nothing on files."""
    if cfg.data.format != "world":
        return {}
    world = get_world(cfg.data.world_config())[0]
    return {"world": world.name, "noun": world.noun}


def split_accuracy(records: Sequence[dict], learner: str, preset: str) -> dict[str, float]:
    """{split: accuracy averaged over seeds} for one run kind (its own predictions, not the
    attribute probes)."""
    by_split: dict[str, list[float]] = {}
    for r in records:
        run = (r.get("experiment"), r.get("learner"), r.get("preset"))
        own = r.get("task") != "attributes" and r["metric"] == "accuracy"
        if run == ("images", learner, preset) and own:
            by_split.setdefault(r["split"], []).append(r["value"])
    return {s: float(np.mean(v)) for s, v in by_split.items()}
