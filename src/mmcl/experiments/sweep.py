"""A seeded grid over any run-config keys: plan, train what is missing, aggregate with intervals.

`mmcl sweep CONFIG key=v1,v2 other=a,b seeds=0,1,2` trains one run per grid point and seed.
Each run lives in `OUT/runs/<config hash>/`, named by the hash of its fully resolved config, so
re-running a sweep trains only runs whose `results.json` is missing (adding a seed or a value
trains just the new runs) and a run killed mid-way resumes from its latest checkpoint: each run
goes through the one door (`mmcl.runs.door`). Runs go `jobs` at a time through the current
executor (`mmcl.runs.executors`: spawned local processes with one torch thread each, Ray, or
Slurm).

The table has one row per grid point and record kind (model, task, split, metric, attribute):
the mean over seeds and its 95% interval from `mmcl.stats` (seed variance plus the binomial
test-sample error of accuracies).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl import stats
from mmcl.config import config_hash, load_config, parse_override_value
from mmcl.errors import MMCLError
from mmcl.eval.tasks import read_results
from mmcl.io import atomic_write_text
from mmcl.runs import door
from mmcl.runs.executors import map_runs
from mmcl.train.config import RunConfig

log = logging.getLogger(__name__)

SEEDS_KEY = "seeds"  # `seeds=0,1,2` sets train.seed per run
SEED_FIELD = "train.seed"
RESULTS = "results.json"
# Record fields that tell records of one run apart (beside model, task, split, metric).
RECORD_KIND = ("model", "task", "split", "metric", "attribute", "pattern")


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, in the order given."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepRun:
    """One (grid point, seed): its resolved config and folder."""

    point: tuple[tuple[str, Any], ...]
    seed: int
    cfg: RunConfig
    run_dir: Path


def parse_grid(args: Sequence[str]) -> tuple[list[Axis], tuple[int, ...]]:
    """`key=v1,v2,...` arguments -> axes, and `seeds=0,1,2` -> seeds (default (0,))."""
    axes: list[Axis] = []
    seeds: tuple[int, ...] = (0,)
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep or not key or not raw:
            raise MMCLError(f"sweep axis {arg!r}: write key=v1,v2,... (e.g. train.steps=100,200)")
        values = tuple(parse_override_value(v) for v in raw.split(","))
        if key == SEEDS_KEY:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise MMCLError(f"sweep {arg!r}: seeds are integers, e.g. seeds=0,1,2")
            seeds = values
        elif key == SEED_FIELD:
            raise MMCLError(f"sweep {arg!r}: give seeds as seeds=0,1,2")
        elif any(a.key == key for a in axes):
            raise MMCLError(f"sweep axis {key!r} is given twice; list all its values once")
        else:
            axes.append(Axis(key, values))
    if len(set(seeds)) != len(seeds):
        raise MMCLError(f"sweep seeds {list(seeds)} repeat a seed")
    return axes, seeds


def grid_points(axes: Sequence[Axis]) -> list[tuple[tuple[str, Any], ...]]:
    """The cartesian product of the axes, first axis slowest; one empty point without axes."""
    return [
        tuple(zip([a.key for a in axes], values, strict=True))
        for values in itertools.product(*(a.values for a in axes))
    ]


def plan(
    config: str | Path,
    axes: Sequence[Axis],
    seeds: Sequence[int],
    out_dir: Path,
    overrides: Sequence[str] = (),
) -> list[SweepRun]:
    """Every run of the grid with its resolved config (validated now, before any training)."""
    runs = []
    for point in grid_points(axes):
        for seed in seeds:
            point_overrides = [f"{key}={value}" for key, value in point]
            cfg = load_config(
                RunConfig, config, [*overrides, *point_overrides, f"{SEED_FIELD}={seed}"]
            )
            cfg.name, cfg.out_dir, cfg.train.progress = "", "", False  # not part of the key
            digest = config_hash(cfg)
            cfg.name, cfg.out_dir = digest, str(out_dir / "runs")
            runs.append(SweepRun(point, seed, cfg, out_dir / "runs" / digest))
    return runs


def is_done(run: SweepRun) -> bool:
    """True when the run's results were scored for this very config (`mmcl.runs.door`)."""
    return door.is_scored(run.cfg, run.run_dir)


def train_and_evaluate(run: SweepRun, threads: int = 1) -> None:
    """Open the door for one run: train (or resume, or reuse) and score into results.json."""
    # Records name the method, not the run (the run is its hash), so seeds of a point group.
    point = dict(run.point) | {"seed": run.seed, "run": run.cfg.name}
    tags = {"model": run.cfg.method.name, **point}
    door.scored(run.cfg, run.run_dir, tags=tags, meta={"sweep_point": dict(run.point)},
                threads=threads)  # fmt: skip


def train_missing(runs: Sequence[SweepRun], jobs: int) -> list[SweepRun]:
    """Train the runs without results, `jobs` at a time; returns the runs that were trained."""
    missing = [run for run in runs if not is_done(run)]
    log.info(
        "sweep: %d runs, %d cached, %d to train", len(runs), len(runs) - len(missing), len(missing)
    )

    def done(count: int, index: int, _result: None) -> None:
        log.info("sweep: %d/%d trained (%s)", count, len(missing), missing[index].run_dir.name)

    map_runs(train_and_evaluate, [(run,) for run in missing], jobs, done)
    return missing


def record_kind(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(record.get(field, "")) for field in RECORD_KIND)


def aggregate(runs: Sequence[SweepRun]) -> list[dict[str, Any]]:
    """One row per (grid point, record kind): per-seed values, mean and 95% interval."""
    grouped: dict[tuple, dict[int, dict[str, Any]]] = {}
    for run in runs:
        for record in read_results(run.run_dir / RESULTS)["records"]:
            grouped.setdefault((run.point, record_kind(record)), {})[run.seed] = record
    rows = []
    for (point, kind), by_seed in grouped.items():
        seeds = sorted(by_seed)
        values = [by_seed[s]["value"] for s in seeds]
        test_se = None
        if kind[RECORD_KIND.index("metric")].endswith("accuracy") and max(values) <= 1.0:
            test_se = [
                float(stats.accuracy_se(by_seed[s]["value"], by_seed[s]["n_samples"]))
                for s in seeds
            ]
        # seeds=... varies train.seed only: every seed is scored on the same test images
        est = stats.estimate(values, test_se, test=stats.SHARED)
        rows.append(
            {
                **dict(point),
                **{field: value for field, value in zip(RECORD_KIND, kind, strict=True) if value},
                "seeds": seeds,
                "per_seed": values,
                "mean": est.mean,
                "interval": est.interval,
                "n_seeds": est.n_seeds,
            }
        )
    return rows


def run_sweep(
    config: str | Path,
    grid: Sequence[str],
    out_dir: str | Path,
    overrides: Sequence[str] = (),
    jobs: int = 2,
) -> dict[str, Any]:
    """Plan, train what is missing, aggregate; writes OUT/sweep.json and returns its content."""
    out_dir = Path(out_dir)
    start = time.perf_counter()
    axes, seeds = parse_grid(grid)
    runs = plan(config, axes, seeds, out_dir, overrides)
    trained = train_missing(runs, jobs)
    result = {
        "config": str(config),
        "overrides": list(overrides),
        "axes": {axis.key: list(axis.values) for axis in axes},
        "seeds": list(seeds),
        "runs": [
            {**dict(run.point), "seed": run.seed, "run_dir": str(run.run_dir)} for run in runs
        ],
        "trained": [str(run.run_dir) for run in trained],
        "rows": aggregate(runs),
        "seconds": round(time.perf_counter() - start, 1),
    }
    atomic_write_text(out_dir / "sweep.json", json.dumps(result, indent=1, default=str))
    return result
