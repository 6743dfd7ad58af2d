"""Training and scoring runs for the Fang et al. 2022 study on one world, cached on disk.

A run is a `RunSpec`: RunConfig overrides (method, world, tower, steps, data size) and the ways
the trained model is scored (`EvalSpec`: its class head, zero-shot prompts, or a linear probe
fitted on some world's train split). Every score is taken on the same test sets: the splits of
one *evaluation world* (the narrow "ImageNet" of the study: `id` and its shifts), whatever world
the model was trained on, because effective robustness compares models on one ID set.

Cache: a run lives in `<root>/fang-<key>/`, `key` a hash of the parts of its resolved config that
decide what it learns (`key_payload`) and `CACHE_VERSION`; it is trained through the one door
(`mmcl.runs.door`: a finished training is reused, an interrupted one resumes from its
checkpoint), and every scoring is stored beside it as
`eval-<name>-<hash>.json` (a results file: meta + records), its hash holding `SCORE_VERSION`. So a
run is trained once and scored once per evaluation, a change to scoring rescores without
retraining, and the testbed command and the repro share runs. An evaluation with a `step` scores
the checkpoint kept at that step (a testbed snapshot); a cached run trained before it kept that
checkpoint is trained again.

Jobs: runs not yet cached train through the current executor (`mmcl.runs.executors`: spawned
local processes with one torch thread each by default, Ray or Slurm).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl.config import load_config, to_dict
from mmcl.data.worlds import get_world, load_world
from mmcl.eval.robustness import ModelPoint
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.eval.tasks import read_results, write_results
from mmcl.methods.base import Method
from mmcl.models.tokenizer import tokenizer_for
from mmcl.runs import door
from mmcl.runs.executors import map_runs
from mmcl.runs.training import load_model
from mmcl.threads import torch_threads
from mmcl.train.config import RunConfig

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when training changes, so old cached runs are not reused
# Bump when scoring's output changes, so old scorings are redone (the trained runs are kept).
# 3: accuracy records carry per-sample correctness (the claims' paired test-sample error).
SCORE_VERSION = 3
ID_SPLIT = "id"
# The shifts every model is scored on: factors held out of both training worlds (`testbed`).
SHIFTS = ("sketch", "unseen_colors")
TRAIN_NOT_IN_KEY = (
    "progress",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "device",
    "compile",
)
FAST_PROBE_ROWS = 64  # train rows embedded by evaluations that fit no probe (the suite always does)


@dataclass(frozen=True)
class EvalSpec:
    """One way to score a trained model; each gives one point (ID, shifts) on the scatter.

    task: classifier (the run's class head) | zeroshot (prompts) | linear_probe.
    probe_world: linear_probe only: "train" fits it on the run's own training world (the
    labels of the pretraining data), "eval" on the evaluation world's train split (the ID set).
    templates: zeroshot only: prompt templates; () uses the world's ensemble.
    step: score the run's checkpoint at this training step (a model of a smaller budget, kept
    by `train.keep_checkpoints`) instead of its final weights; 0 = the final weights.
    """

    name: str
    task: str
    probe_world: str = "train"
    templates: tuple[str, ...] = ()
    step: int = 0


def snapshot(step: int) -> EvalSpec:
    """The class head of the run's checkpoint at `step`: one more testbed point."""
    return EvalSpec(f"head-s{step}", "classifier", step=step)


CLASSIFIER = EvalSpec("head", "classifier")
ZEROSHOT = EvalSpec("zeroshot", "zeroshot")


@dataclass(frozen=True)
class RunSpec:
    """A training run and its scorings. `overrides` are RunConfig `key=value` strings."""

    name: str
    group: str  # plot colour and role, e.g. "baseline", "CLIP narrow"
    overrides: tuple[str, ...]
    evals: tuple[EvalSpec, ...] = (CLASSIFIER,)
    baseline: bool = False  # its points fit the baseline line

    def label(self, spec: EvalSpec) -> str:
        """Point label: the run name, plus the evaluation's when the run has several."""
        return self.name if len(self.evals) == 1 else f"{self.name}/{spec.name}"


@dataclass(frozen=True)
class Settings:
    """Where and how runs happen: shared by every run of one study."""

    root: Path  # cached runs
    eval_world: Any  # the test sets every model is scored on: a world config (`testbed`)
    common: tuple[str, ...] = ()  # overrides applied before each run's own
    overrides: tuple[str, ...] = ()  # the user's `--set` overrides, applied after each run's own
    world_cache: str = ""  # rendered worlds; "" = mmcl's default cache
    probe_train_size: int = 2000
    jobs: int = 1  # parallel training processes
    threads: int = 1  # torch threads per training process


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key_payload(cfg: RunConfig) -> dict[str, Any]:
    """The parts of a resolved config that decide what a run learns, and nothing else.

    Whole sections would tie the cache to every field anyone adds to RunConfig (readers of real
    data, other methods' sub-sections, evaluation): each such addition would retrain every run.
    Kept: the world, the whole model, the method's own fields (its sub-section too, if it has
    one), and the training recipe minus logging, checkpointing and device choices. A world's
    own options (`data.world_options`: fashion's photo folder and label) are kept when set, and
    only then, so the keys of runs that set none (every shapes run) are the ones they had.
    """
    plain = to_dict(cfg)
    method = plain["method"]
    data = {k: plain["data"][k] for k in ("format", "world", "shapes")}
    if plain["data"]["world_options"]:
        data["world_options"] = plain["data"]["world_options"]
    return {
        "data": data,
        "model": plain["model"],
        "method": {
            k: v for k, v in method.items() if not isinstance(v, dict) or k == cfg.method.name
        },
        "train": {k: v for k, v in plain["train"].items() if k not in TRAIN_NOT_IN_KEY},
        "version": CACHE_VERSION,
    }


def resolve(spec: RunSpec, settings: Settings) -> RunConfig:
    """The run's full config, named `fang-<key>` and placed in the cache root."""
    overrides = [*settings.common, *spec.overrides, *settings.overrides, "train.progress=false"]
    cfg = load_config(RunConfig, None, overrides)
    cfg.name, cfg.out_dir = f"fang-{_hash(key_payload(cfg))}", str(settings.root)
    cfg.data.cache_dir = settings.world_cache
    return cfg


def run_dir(cfg: RunConfig) -> Path:
    return Path(cfg.out_dir) / cfg.name


def eval_path(cfg: RunConfig, spec: EvalSpec, settings: Settings) -> Path:
    payload = {
        "eval": dataclasses.asdict(spec),
        "world": dataclasses.asdict(settings.eval_world),
        "probe_train_size": settings.probe_train_size,
        "version": CACHE_VERSION,
        "score_version": SCORE_VERSION,
    }
    return run_dir(cfg) / f"eval-{spec.name}-{_hash(payload)}.json"


def is_trained(cfg: RunConfig) -> bool:
    return door.is_trained(cfg, run_dir(cfg))


def snapshot_path(cfg: RunConfig, step: int) -> Path:
    """The checkpoint file training writes at `step` (`mmcl.train.checkpoint`'s naming)."""
    return run_dir(cfg) / "checkpoints" / f"step_{step:07d}.pt"


def snapshots_missing(cfg: RunConfig, evals: Sequence[EvalSpec]) -> bool:
    """Whether a trained run lacks a checkpoint an evaluation scores (trained before it kept
    them: checkpointing is not in the cache key, so such a run is trained again)."""
    return any(e.step and not snapshot_path(cfg, e.step).is_file() for e in evals)


def _probe_split(cfg: RunConfig, spec: EvalSpec, settings: Settings):
    """The split whose features fit the probe (or fill the suite's train slot)."""
    world = cfg.data.world_config() if spec.probe_world == "train" else settings.eval_world
    split = load_world(world, "train", settings.world_cache or None)
    if spec.templates:
        split = dataclasses.replace(split, prompt_templates=list(spec.templates))
    return split


def score(cfg: RunConfig, method: Method, spec: EvalSpec, settings: Settings) -> list[dict]:
    """Records of one evaluation on the evaluation world's `id` and shift splits."""
    cache = settings.world_cache or None
    tests = {s: load_world(settings.eval_world, s, cache) for s in (ID_SPLIT, *SHIFTS)}
    rows = settings.probe_train_size if spec.task == "linear_probe" else FAST_PROBE_ROWS
    name = get_world(settings.eval_world)[0].name  # the records' `dataset`
    data = EvalData(name, _probe_split(cfg, spec, settings), tests, rows)
    method.eval()
    return evaluate_model(method.model, cfg.name, data, [spec.task], tokenizer_for(cfg.model))


def _train_and_score(cfg: RunConfig, evals: Sequence[EvalSpec], settings: Settings) -> float:
    """Train (or resume, or reuse) one run through the door and write every missing
    evaluation; seconds."""
    start = time.perf_counter()
    with torch_threads(settings.threads):
        if is_trained(cfg) and snapshots_missing(cfg, evals):
            # trained before it kept these checkpoints: the same config and seed, trained again
            trained = door.trained(cfg, run_dir(cfg), reuse=False, resume=False, overwrite=True)
        else:
            trained = door.trained(cfg, run_dir(cfg))
        for spec in evals:
            path = eval_path(cfg, spec, settings)
            if not path.is_file():
                model = load_model(snapshot_path(cfg, spec.step))[1] if spec.step else None
                meta = {"run": cfg.name, "eval": dataclasses.asdict(spec)}
                write_results(path, meta, score(cfg, model or trained.method, spec, settings))
    return time.perf_counter() - start


@dataclass
class _Pending:
    """A distinct config still to train or score, and the spec names that share it."""

    cfg: RunConfig
    evals: list[EvalSpec]
    names: list[str]


def _pending(specs: Sequence[RunSpec], settings: Settings) -> list[_Pending]:
    """One entry per distinct config whose training or some evaluation is not cached."""
    todo: dict[str, _Pending] = {}
    for spec in specs:
        cfg = resolve(spec, settings)
        missing = [e for e in spec.evals if not eval_path(cfg, e, settings).is_file()]
        if missing or not is_trained(cfg):
            entry = todo.setdefault(cfg.name, _Pending(cfg, [], []))
            entry.evals += [e for e in missing if e not in entry.evals]
            entry.names.append(spec.name)
    return list(todo.values())


def ensure_runs(specs: Sequence[RunSpec], settings: Settings) -> None:
    """Train and score every spec not yet cached, `settings.jobs` at a time."""
    todo = _pending(specs, settings)
    if not todo:
        return
    log.info("fang2022: %d run(s) to train or score, %d at a time", len(todo), settings.jobs)
    for name in ("train", ID_SPLIT, *SHIFTS):  # render the test worlds once, before workers
        load_world(settings.eval_world, name, settings.world_cache or None)

    def done(k: int, index: int, seconds: float) -> None:
        job = todo[index]
        names = ", ".join(job.names)
        log.info(
            "fang2022: %d/%d %s (%s) done in %.0f s", k, len(todo), names, job.cfg.name, seconds
        )

    calls = [(job.cfg, tuple(job.evals), settings) for job in todo]
    map_runs(_train_and_score, calls, settings.jobs, done)


def load_records(spec: RunSpec, settings: Settings) -> dict[str, list[dict]]:
    """Evaluation name -> its cached records, relabelled with the spec's point labels."""
    cfg = resolve(spec, settings)
    out = {}
    for e in spec.evals:
        records = read_results(eval_path(cfg, e, settings))["records"]
        tags = {"model": spec.label(e), "group": spec.group, "run": cfg.name, "eval": e.name}
        out[e.name] = [{**r, **tags} for r in records]
    return out


def to_point(spec: RunSpec, eval_spec: EvalSpec, records: Sequence[dict]) -> ModelPoint:
    """A scatter point from one evaluation's accuracy records."""
    acc = {r["split"]: r["value"] for r in records if r["metric"] == "accuracy"}
    return ModelPoint(
        label=spec.label(eval_spec),
        id_acc=acc[ID_SPLIT],
        ood={s: acc[s] for s in SHIFTS if s in acc},
        ident={"run": spec.name, "eval": eval_spec.name},
        group=spec.group,
        baseline=spec.baseline,
        cluster=spec.name,  # a run's snapshots move together: the line resamples runs
    )


def collect(specs: Sequence[RunSpec], settings: Settings) -> tuple[list[ModelPoint], list[dict]]:
    """Train what is missing, then every spec's points and all their records."""
    ensure_runs(specs, settings)
    points, records = [], []
    for spec in specs:
        for name, recs in load_records(spec, settings).items():
            eval_spec = next(e for e in spec.evals if e.name == name)
            points.append(to_point(spec, eval_spec, recs))
            records += recs
    return points, records
