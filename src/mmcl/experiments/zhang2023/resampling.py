"""Zhang, Wang & Wang (ICML 2023): SimCLR vs CLIP-guided resampling, one training run at a time.

Spec zhang2023.md in the shared specs, sections 2-3 and 5.5-5.6. Every run of one seed shares the
world, tower, steps and initial weights:

- `teacher_clip`: a CLIP trained on the same world: the teacher (its image tower, same views).
- `simclr`: the baseline; `new_positive`, `drop_easy_negative`, `drop_false_negative`,
  `drop_false_positive`: the four variants with the repo's ratios (1, 0.1, 0.05, 0.1);
- controls, the new-positive variant with a `random_projection` and a `label_oracle` teacher;
- `index_new_positive`: the dataset-level form (neighbours from an index over the train set).

Each run is trained through the one door (`mmcl.runs.door.trained`: reused when the same config
finished in its folder) and scored by a linear probe on frozen features, in distribution and
under the shifts. The index variant is plain `resampled_simclr` with `neighbours=index`: the
method builds its index and partner-view dataset when the trainer asks for its dataset, and its
build time is recorded apart (`index_seconds`). The grid over seeds and variants is
`mmcl.experiments.zhang2023.grid`; its sizes per scale, the variants' settings and the paper
recipe are data (configs/zhang2023/resampling.yaml).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.experiments.zhang2023.probes import BASELINE, SAME_CLASS_METRIC
from mmcl.io import atomic_write_json
from mmcl.methods.base import Method
from mmcl.registry import unknown_name_message
from mmcl.runs import door
from mmcl.runs.scoring import evaluate_method
from mmcl.train.config import RunConfig

log = logging.getLogger(__name__)

TEACHER_RUN = "teacher_clip"
INDEX_TIME = "index_seconds.json"  # in an index run's folder: its index build time, once trained

GRID = read_grid(
    grid_path("zhang2023", "resampling.yaml"), ("shared", "scales", "variants", "paper_recipe")
)
SHARED = GRID.strings("shared")  # every run of a world grid, whatever the scale
# Variant name -> its method.resampling settings (the teacher is filled in by `variant_overrides`).
VARIANTS: dict[str, dict[str, object]] = GRID.mapping("variants", dict)
WORLD_ONLY = ("index_new_positive", "text_positives")  # need in-memory train images / captions


@dataclass(frozen=True)
class ResamplingScale:
    """One grid's sizes; every run of the grid shares them."""

    n_train: int
    n_test: int
    steps: int
    batch_size: int
    width: int
    teacher_steps: int
    probe_train_size: int
    spurious_strength: float = 0.1  # = uniform background: with a spurious one (0.9, or even
    # 0.5) every tiny-scale probe reads the background only (measured: id 46%, reversed 0%)
    temperature: float = 0.2
    lr: float = 2e-3
    precision: str = "auto"
    canvas: str = "scene"  # data.shapes.canvas
    eval_splits: tuple[str, ...] = ()  # the probed splits; empty: RunConfig's default
    teacher_captions: str | None = None  # the teacher's caption preset; None: the world's own

    def overrides(self) -> list[str]:
        """What every run of the grid shares: `SHARED` and this scale's sizes."""
        splits = [f"eval.splits=[{','.join(self.eval_splits)}]"] if self.eval_splits else []
        return [
            *SHARED,
            f"data.shapes.n_train={self.n_train}",
            f"data.shapes.n_test={self.n_test}",
            f"data.shapes.spurious_strength={self.spurious_strength}",
            f"data.shapes.canvas={self.canvas}",
            f"train.batch_size={self.batch_size}",
            f"train.lr={self.lr}",
            f"train.precision={self.precision}",
            f"model.width={self.width}",
            f"method.temperature={self.temperature}",
            f"eval.probe_train_size={self.probe_train_size}",
            *splits,
        ]

    def teacher_overrides(self) -> list[str]:
        """What only the CLIP teacher's run adds (its captions change no pixel)."""
        preset = self.teacher_captions
        return [] if preset is None else [f"data.shapes.caption_preset={preset}"]


# The grid's sizes per scale, and why, are in configs/zhang2023/resampling.yaml.
SCALES = GRID.table(ResamplingScale, "scales", names=("tiny", "small"))
PAPER_RECIPE = GRID.strings("paper_recipe")
PAPER_PATHS = ("data.path", "data.val_path", "method.resampling.teacher_path")


def resolve_scale(name: str) -> ResamplingScale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("zhang2023 world scale", name, SCALES))
    return SCALES[name]


def paper_overrides(overrides: Sequence[str] = ()) -> list[str]:
    """The ImageNet-100 / ResNet-18 recipe of spec 2.3, completed by the user's `--set` values.

    The data and the teacher are the user's: `data.path` (ImageFolder train/), `data.val_path`
    (val/) and `method.resampling.teacher_path` (a local open_clip ViT-B-32 checkpoint) must be
    set and exist. Differences that remain: AdamW (the trainer's optimiser) instead of LARS, and
    the teacher input is normalized (the repo fed raw [0, 1] pixels to CLIP).
    """
    given = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides if "=" in o}
    missing = [key for key in PAPER_PATHS if not given.get(key)]
    if missing:
        raise MMCLError(
            "mmcl repro zhang2023 --scale paper trains on ImageNet-100 with a CLIP ViT-B-32 "
            f"teacher: give {', '.join(f'--set {k}=...' for k in missing)} (data.path = an "
            "ImageFolder train/ folder, data.val_path = its val/, method.resampling.teacher_path"
            " = a local open_clip ViT-B-32 checkpoint file)"
        )
    absent = [f"{k}={given[k]}" for k in PAPER_PATHS if not Path(given[k]).exists()]
    if absent:
        raise MMCLError(f"zhang2023 paper scale: {', '.join(absent)} does not exist")
    return [*PAPER_RECIPE, *overrides]


def variant_overrides(name: str, teacher_dir: Path | None) -> list[str]:
    """Method overrides of one variant; CLIP-teacher variants read `teacher_dir`."""
    if name not in VARIANTS:
        raise MMCLError(unknown_name_message("resampling variant", name, VARIANTS))
    if name == BASELINE:
        return ["method.name=simclr"]
    settings = dict(VARIANTS[name])
    out = ["method.name=resampled_simclr"]
    if "teacher" not in settings and teacher_dir is not None:
        out += [
            "method.resampling.teacher=clip_run",
            f"method.resampling.teacher_path={teacher_dir}",
        ]
    return out + [f"method.resampling.{key}={value}" for key, value in settings.items()]


@dataclass
class TrainedRun:
    """A finished run: its method, config, folder and wall times (training without the index
    build, and the index build of a `neighbours=index` run)."""

    cfg: RunConfig
    method: Method
    run_dir: Path
    train_seconds: float
    index_seconds: float = 0.0


def train_run(cfg: RunConfig, run_dir: Path) -> TrainedRun:
    """Train one run through the door (an experiment's own folder: another config there is
    replaced, the same finished config reused), with its times."""
    run = door.trained(cfg, run_dir, replace=True)
    index_seconds = _index_seconds(run)
    seconds = door.training_seconds(run_dir)  # includes the index build, done by the trainer
    return TrainedRun(cfg, run.method, run_dir, max(0.0, seconds - index_seconds), index_seconds)


def _index_seconds(run: door.Trained) -> float:
    """The index build time: measured by the method when it trained here, else the one saved
    beside the run when it did (0 for a run without an index)."""
    path = run.run_dir / INDEX_TIME
    seconds = getattr(run.method, "index_seconds", 0.0)
    if not run.reused and seconds and run.runtime is not None and run.runtime.is_main:
        atomic_write_json(path, {"index_seconds": seconds})
    elif run.reused and path.is_file():
        seconds = float(json.loads(path.read_text())["index_seconds"])
    return seconds


def run_config(name: str, seed: int, folder: Path, overrides: Sequence[str]) -> RunConfig:
    own = [f"name={name}", f"out_dir={folder}", f"data.shapes.seed={seed}", f"train.seed={seed}"]
    return load_config(RunConfig, None, [*overrides, *own])


def step_overrides(steps: int) -> list[str]:
    """A schedule of `steps` with 10% warm-up and one checkpoint at the end."""
    return [f"train.steps={steps}", f"train.warmup_steps={max(1, steps // 10)}",
            f"train.checkpoint_every={steps}"]  # fmt: skip


def probe_records(run: TrainedRun, tags: dict) -> list[dict]:
    """Linear-probe records of a trained run on every configured split, tagged with its times
    and, for new-positive runs, the share of same-class new positives at the last logged step."""
    records = evaluate_method(run.cfg, run.method, ["linear_probe"])
    extra = {"train_seconds": round(run.train_seconds, 2), "index_seconds": run.index_seconds}
    same = last_logged(run.run_dir, SAME_CLASS_METRIC)
    if same is not None:
        extra[SAME_CLASS_METRIC] = same
    return [{**r, **tags, **extra} for r in records]


def last_logged(run_dir: Path, key: str) -> float | None:
    """The last value of `key` in run_dir/metrics.jsonl, None when never logged."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    values = [json.loads(line).get(key) for line in path.read_text().splitlines() if line]
    values = [v for v in values if v is not None]
    return float(values[-1]) if values else None


def train_teacher(seed: int, folder: Path, overrides: list[str]) -> Path:
    """A CLIP on the same world: the teacher of every clip_run variant; returns its run dir."""
    cfg = run_config(TEACHER_RUN, seed, folder, overrides)
    log.info("zhang2023: training the CLIP teacher (seed %d, %d steps)", seed, cfg.train.steps)
    door.trained(cfg, folder / TEACHER_RUN, replace=True)  # the experiment's own folder
    return folder / TEACHER_RUN


def train_variant(name: str, seed: int, folder: Path, overrides: list[str]) -> list[dict]:
    """Train one variant (its overrides already composed) and return its probe records."""
    cfg = run_config(name, seed, folder, overrides)
    log.info("zhang2023: training %s (seed %d, %d steps)", name, seed, cfg.train.steps)
    run = train_run(cfg, folder / name)
    return probe_records(run, {"variant": name, "seed": seed})
