"""The one door: a resolved run config in, its trained method or its scored records out.

Every training in mmcl opens this door: `mmcl train`, `mmcl eval`'s runs, sweeps, the demo, the
four papers, the testbeds and the teachers. So "does rerunning retrain?" has one answer: a run
is keyed by its config, and its folder remembers what it holds:

- `trained.json` names the `train_key` of a finished training (the config hash without name,
  folder, evaluation settings and how the run is watched): the same key is reused (its latest
  checkpoint loaded), never trained again;
- a folder holding an unfinished training of the same key resumes from its checkpoint;
- `results.json` holds the records of the tasks scored, with the `run_key` (the whole config
  but its name, folder and progress bar) and the tasks in its meta: the same key and tasks are
  read back, not scored again.

A folder that holds another config's run is the caller's to decide on: `replace=True` (an
experiment's own folder under its output folder) trains it anew, otherwise it is refused with
the folder named, so no run is deleted without the user's word. Executors (`mmcl.runs.
executors`) only decide where the door is opened: a run trained on any node of a shared file
system is reused everywhere.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.eval.tasks import read_results, write_results
from mmcl.io import atomic_write_json
from mmcl.methods.base import Method
from mmcl.runs.keys import run_key, train_key
from mmcl.runs.scoring import results_meta, score_run
from mmcl.runs.training import load_trained, train
from mmcl.threads import torch_threads
from mmcl.train.config import RunConfig, as_written
from mmcl.train.distributed import Runtime
from mmcl.train.metrics_log import mirror_results
from mmcl.train.run_folder import TRAINED

log = logging.getLogger(__name__)

RESULTS = "results.json"


def default_dir(cfg: RunConfig) -> Path:
    return Path(cfg.out_dir) / cfg.name


@dataclass
class Trained:
    """A trained run: its method (on the device it trained on), folder and runtime, and whether
    the door reused a finished training instead of training."""

    method: Method
    run_dir: Path
    runtime: Runtime | None
    reused: bool


def is_trained(cfg: RunConfig, run_dir: Path | None = None) -> bool:
    """Whether `run_dir` holds a finished training of this very config."""
    marker = (run_dir or default_dir(cfg)) / TRAINED
    if not marker.is_file():
        return False
    try:
        return read_marker(marker).get("train_key") == train_key(cfg)
    except MMCLError:
        return False


def read_marker(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise MMCLError(f"{path}: unreadable ({error}); delete it to train the run again") from None
    if not isinstance(data, dict):
        raise MMCLError(f"{path}: not an object; delete it to train the run again")
    return data


def training_seconds(run_dir: Path) -> float:
    """Wall seconds the finished training took (0 when the marker is missing or older)."""
    marker = run_dir / TRAINED
    return float(read_marker(marker).get("seconds", 0.0)) if marker.is_file() else 0.0


def _holds_other_run(cfg: RunConfig, run_dir: Path) -> bool:
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return False
    try:
        return train_key(load_config(RunConfig, saved, prepare=as_written)) != train_key(cfg)
    except MMCLError:
        return True


def trained(
    cfg: RunConfig,
    run_dir: Path | None = None,
    *,
    replace: bool = False,
    threads: int = 0,
    reuse: bool = True,
    resume: bool = True,
    overwrite: bool = False,
    evaluate: Callable[[Method], dict[str, float]] | None = None,
) -> Trained:
    """The run's trained method: reused, resumed or trained from step 0 (see the module).

    replace: a folder holding another config's run is trained anew (an experiment's own
    folder); False refuses it. `mmcl train` passes its own flags instead: `reuse=False` with
    `resume` / `overwrite` as the user gave them, and `evaluate` (scores logged while training).
    threads: torch threads for the run (0 leaves the process's setting).
    """
    run_dir = run_dir or default_dir(cfg)
    if reuse and is_trained(cfg, run_dir):
        return Trained(load_trained(run_dir)[1], run_dir, None, reused=True)
    if reuse and _holds_other_run(cfg, run_dir):
        if not replace:
            raise MMCLError(
                f"{run_dir} holds a run of another config; give another folder, or delete it "
                "to train this config there"
            )
        resume, overwrite = False, True
    start = time.perf_counter()
    with torch_threads(threads):
        method, runtime = train(cfg, run_dir, resume=resume, evaluate=evaluate, overwrite=overwrite)
    if runtime.is_main:
        seconds = round(time.perf_counter() - start, 2)
        atomic_write_json(run_dir / TRAINED, {"train_key": train_key(cfg), "seconds": seconds})
    return Trained(method, run_dir, runtime, reused=False)


def _scored_here(path: Path, key: str, tasks: Sequence[str]) -> list[dict[str, Any]] | None:
    """The records cached in `path` for this key and these tasks, None when there are none."""
    if not path.is_file():
        return None
    try:
        document = read_results(path)
    except MMCLError:
        return None
    meta = document["meta"]
    if meta.get("run_key") != key or meta.get("tasks") != list(tasks):
        return None
    return document["records"]


def is_scored(
    cfg: RunConfig, run_dir: Path | None = None, tasks: Sequence[str] | None = None
) -> bool:
    """Whether the run's results for these tasks (the config's when None) are cached."""
    run_dir = run_dir or default_dir(cfg)
    found = _scored_here(run_dir / RESULTS, run_key(cfg), list(tasks or cfg.eval.tasks))
    return found is not None


def scored(
    cfg: RunConfig,
    run_dir: Path | None = None,
    tasks: Sequence[str] | None = None,
    *,
    tags: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    replace: bool = False,
    threads: int = 0,
) -> list[dict[str, Any]]:
    """The run's records of `tasks` (the config's `eval.tasks` when None), each with `tags`.

    Trains through `trained` when needed, scores the model and writes `results.json` (meta:
    `results_meta`, the key, the tasks, and `meta`); a second call with the same config and
    tasks reads that file back.
    """
    run_dir = run_dir or default_dir(cfg)
    tasks = list(tasks or cfg.eval.tasks)
    key, path = run_key(cfg), run_dir / RESULTS
    cached = _scored_here(path, key, tasks)
    if cached is not None:
        return cached
    run = trained(cfg, run_dir, replace=replace, threads=threads)
    with torch_threads(threads):
        return write_scores(cfg, run.method, run_dir, tasks, tags=tags, meta=meta)


def write_scores(
    cfg: RunConfig,
    method: Method,
    run_dir: Path,
    tasks: Sequence[str],
    *,
    tags: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    feature_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Score a trained run's method and write its `results.json`, keyed so `scored` reuses it."""
    records = score_run(cfg, method, run_dir, tasks, progress, feature_dir)
    tagged = [{**r, **(tags or {})} for r in records]
    header = results_meta(cfg, run_dir) | {"tasks": list(tasks)}
    write_results(run_dir / RESULTS, header | (meta or {}), tagged)
    mirror_results(cfg, run_dir, tagged)  # train.logger's tracker gets the final results once
    return tagged
