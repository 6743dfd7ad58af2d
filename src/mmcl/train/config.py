"""The run config: one dataclass per section, loaded from YAML with key=value overrides.

Each section's dataclass lives beside what it configures: `DataConfig` in `mmcl.data.config`,
`EvalConfig` in `mmcl.eval.config`, `ModelConfig` in `mmcl.models.model`, `MethodConfig` in
`mmcl.methods.base`; `TrainConfig` (the loop) is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmcl.config import check_choice, check_range, when_set_field
from mmcl.data.config import DataConfig, format_kinds
from mmcl.data.worlds import get_world
from mmcl.errors import MMCLError
from mmcl.eval.config import EvalConfig
from mmcl.eval.suite import task_needs
from mmcl.methods.base import METHODS, MethodConfig
from mmcl.models.model import ModelConfig
from mmcl.train.trackers import NONE, check_logger


@dataclass
class TrainConfig:
    steps: int = 300
    batch_size: int = 256  # global batch: split across processes under torchrun
    lr: float = 2e-3
    weight_decay: float = 0.1  # AdamW; not applied to biases, norms and the logit scale
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])  # CLIP's beta2
    # AdamW eps, CLIP's (open_clip's ViT recipe): with 1e-8 a near-zero gradient's last bit
    # decides a full-size step, so runs that sum gradients in another order part within steps
    eps: float = 1e-6
    warmup_steps: int = 30
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    precision: str = "auto"  # auto (bf16 where measured faster) | bf16 | fp32
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    checkpoint_every: int = 100  # steps; a checkpoint is also written at the end
    keep_checkpoints: int = 2  # older ones are deleted
    log_every: int = 10
    nonfinite: str = "stop"  # stop | skip: what a NaN/inf loss does
    compile: bool = False  # torch.compile the method (GPU runs)
    progress: bool = True
    # A tracker mirroring metrics.jsonl: none | tensorboard | mlflow | wandb (`mmcl.train.trackers`;
    # each works offline). Written only when set, so configs from before it keep their hash.
    logger: str = when_set_field(NONE)

    def validate(self) -> None:
        check_range("train.steps", self.steps, 1)
        check_range("train.batch_size", self.batch_size, 2)
        check_range("train.lr", self.lr, 0, 10)
        check_range("train.weight_decay", self.weight_decay, 0, 10)
        check_range("train.eps", self.eps, 0, 1)
        check_range("train.warmup_steps", self.warmup_steps, 0)
        check_range("train.min_lr_ratio", self.min_lr_ratio, 0, 1)
        check_range("train.grad_clip", self.grad_clip, 0)
        check_range("train.checkpoint_every", self.checkpoint_every, 1)
        check_range("train.keep_checkpoints", self.keep_checkpoints, 1)
        check_range("train.log_every", self.log_every, 1)
        check_range("train.seed", self.seed, 0, 2**32 - 1)  # what NumPy's seeding takes
        check_choice("train.precision", self.precision, ("auto", "bf16", "fp32"))
        check_choice("train.device", self.device, ("auto", "cpu", "cuda"))
        check_choice("train.nonfinite", self.nonfinite, ("stop", "skip"))
        check_logger(self.logger)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise MMCLError(
                f"config key 'train.betas' = {self.betas} must be two numbers in [0, 1)"
            )


def check_run_name(name: str) -> None:
    """A run name is one path component, so the run folder `out_dir/name` lies inside out_dir
    and is nobody else's folder: not empty, not `.` or `..`, no separators."""
    bad = (
        not name.strip()
        or name in (".", "..")
        or any(c in name for c in ("/", "\\", "\0"))
        or len(name.encode()) > 255
    )
    if bad:
        raise MMCLError(
            f"config key 'name' = {name!r} must be one folder name (no '/', not '.', '..' or "
            "empty, at most 255 bytes): the run folder is out_dir/name; set name=my_run"
        )


# Keys added after runs were written whose default would change such a run: the value it was
# trained with. A run's own saved config (its config.yaml, its checkpoints' copies) that lacks
# one gets this value, not today's default, so it resumes and scores as it was.
WRITTEN_BEFORE: dict[tuple[str, str], Any] = {("model", "vocab"): "full"}


def as_written(data: dict[str, Any]) -> dict[str, Any]:
    """A run's saved config mapping as today's code reads it: `WRITTEN_BEFORE`'s keys filled
    where it lacks them, and the data formats' flat keys of configs written before each format
    owned its options moved into their sections (`moved_format_keys`)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for (section, key), value in WRITTEN_BEFORE.items():
        if isinstance(out.get(section), dict) and key not in out[section]:
            out[section][key] = value
    if isinstance(out.get("data"), dict):
        out["data"] = moved_format_keys(out["data"])
    return out


def moved_format_keys(data: dict[str, Any]) -> dict[str, Any]:
    """A saved `data` mapping with its old flat format keys (`DataConfig.RENAMED`, e.g.
    `csv_img_key`) moved to their sections (`csv: {img_key}`), each kept only where it differs
    from that format's default: a world run saved then reads as the same config saved today.

    Only for configs mmcl wrote itself (a run folder's config.yaml, a checkpoint's copy): a key
    a user types the old way is still refused with its new name.
    """
    kinds = format_kinds()
    out = dict(data)
    for old, new in DataConfig.RENAMED.items():
        if old not in out:
            continue
        value = out.pop(old)
        fmt, _, key = new.partition(".")
        if fmt in kinds and value != getattr(kinds[fmt](), key):
            section = out.get(fmt) if isinstance(out.get(fmt), dict) else {}
            out[fmt] = {**section, key: section.get(key, value)}
    return out


@dataclass
class RunConfig:
    name: str = "run"
    out_dir: str = "runs"  # the run folder is out_dir/name
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> None:
        """The run folder is one folder inside out_dir; the method must be able to train on
        the data (`Method.check_run`); the splits scored must be splits of the world trained
        on; `model.vocab=auto` becomes the trained world's vocabulary."""
        check_run_name(self.name)
        METHODS.get(self.method.name).check_run(self)
        self.model.resolve_vocab(self.data.format, self.data.world)
        if self.data.format != "world":
            return
        world, _ = get_world(self.data.world)
        for split in self.eval.splits:
            check_choice("eval.splits", split, world.splits)
        if self.eval.attribute_split and "attributes" in task_needs(self.eval.tasks):
            check_choice("eval.attribute_split", self.eval.attribute_split, world.splits)
