"""The run config: one dataclass per section, loaded from YAML with key=value overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmcl.config import check_choice, check_range
from mmcl.data.caption_edits import DETAIL_KINDS
from mmcl.data.formats.class_subsets import CLASS_INDEX_LAYOUTS, SUBSET_TABLES
from mmcl.data.formats.detect import infer_format
from mmcl.data.templates import resolve_templates
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.methods.base import MethodConfig
from mmcl.models.model import ModelConfig

SUBSET_NAMES = (*SUBSET_TABLES, *CLASS_INDEX_LAYOUTS)  # shift names with a known class layout
SHAPES_EVAL_SPLITS = ["id", "spurious_reversed", "sketch", "unseen_colors"]
EVAL_TASK_NAMES = (
    "zeroshot", "classifier", "linear_probe", "knn", "retrieval", "attributes", "mmvp",
)  # fmt: skip


DATA_FORMATS = ("world", "csv", "coco", "webdataset", "imagefolder", "imagenet_captions")
AUTO = "auto"  # data.format / data.val_format: inferred from the path, and saved resolved
SEPARATOR_ALIASES = {"\\t": "\t", "tab": "\t", "comma": ","}  # `\t` as typed in a shell


@dataclass
class DataConfig:
    # world | csv | coco | webdataset | imagefolder | imagenet_captions | auto (from data.path)
    format: str = "world"
    world: str = "shapes"  # built-in world to train and evaluate on (format=world)
    shapes: ShapesConfig = field(default_factory=ShapesConfig)
    cache_dir: str = ""  # rendered worlds; default $MMCL_CACHE or ~/.cache/mmcl
    num_workers: int = 0  # in-memory worlds load fastest in the main process
    # ---- real formats (format != world) ----
    path: str = ""  # CSV/TSV file, COCO captions JSON (or its folder), class-folder root, or
    # webdataset shards ("shards-{000..009}.tar", several joined by "::")
    image_size: int = 32  # images are resized (shorter side) and centre-cropped to this
    csv_img_key: str = "filepath"  # open_clip's column names
    csv_caption_key: str = "title"
    csv_label_key: str = ""  # optional class-name column (labels for probes / supervised)
    csv_separator: str = ","  # "\t" (or "tab") for TSV
    coco_images: str = ""  # COCO image folder; "" = next to the JSON (COCO's own layout)
    caption_template: str = "a photo of a {}."  # ImageFolder captions from class names
    class_subset: str = ""  # imagefolder: imagenet_r | imagenet_a | objectnet
    imagenet_root: str = ""  # imagenet_captions: local ImageNet (holding train/<wnid>/)
    # imagenet_captions text: title | tags | description joined by "+", variants by ","
    captions_text: str = "title+tags+description"
    caption_class_filter: bool = False  # imagenet_captions: keep captions naming the class
    max_bad_fraction: float = 0.001  # bad samples tolerated (skipped) before the run stops
    # Xue et al.'s caption ablation on real captions: full | no_details | label (class only)
    caption_edit: str = "full"
    caption_edit_kinds: list[str] = field(default_factory=lambda: list(DETAIL_KINDS))
    shuffle_buffer: int = 1000  # webdataset: samples held for shuffling, per worker
    # webdataset: samples per remote shard (pipe:, http://) when no sizes.json lies beside them
    shard_samples: int = 0
    val_path: str = ""  # evaluation split (same kinds as path); "" = no test split
    val_format: str = ""  # format of val_path; "" = same as format; auto = from val_path
    # Shifted test sets scored beside val, name -> path in val's format (e.g. imagenet_r:
    # /data/imagenet-r); a name that is a class subset (imagenet_r, imagenet_a, objectnet)
    # reads only those classes, and zero-shot then chooses among the classes a split holds.
    val_shifts: dict[str, str] = field(default_factory=dict)
    # zero-shot prompts: templates with {} for the class name, or presets (openai_imagenet: the
    # 80 of CLIP's paper; simple_imagenet: open_clip's 7), expanded when the config loads
    prompt_templates: list[str] = field(default_factory=lambda: ["a photo of a {}."])

    def __post_init__(self) -> None:
        self.csv_separator = SEPARATOR_ALIASES.get(self.csv_separator, self.csv_separator)
        self.prompt_templates = resolve_templates(self.prompt_templates)
        if self.format == AUTO:
            self.format = self._inferred("data.path", self.path)
        if self.val_format == AUTO:
            self.val_format = self._inferred("data.val_path", self.val_path)

    def _inferred(self, key: str, path: str) -> str:
        """The format of `path` (a TSV also sets a tab separator, unless one was chosen)."""
        if not path:
            raise MMCLError(f"data.format=auto needs {key} (the format is inferred from it)")
        fmt, implied = infer_format(path)
        if "csv_separator=tab" in implied and self.csv_separator == ",":
            self.csv_separator = "\t"
        return fmt

    def validate(self) -> None:
        check_choice("data.format", self.format, (*DATA_FORMATS, AUTO))
        check_choice("data.world", self.world, ("shapes",))
        check_range("data.num_workers", self.num_workers, 0, 64)
        check_range("data.image_size", self.image_size, 8, 1024)
        check_range("data.max_bad_fraction", self.max_bad_fraction, 0, 1)
        check_range("data.shuffle_buffer", self.shuffle_buffer, 1)
        check_range("data.shard_samples", self.shard_samples, 0)
        check_choice("data.caption_edit", self.caption_edit, ("full", "no_details", "label"))
        for kind in self.caption_edit_kinds:
            check_choice("data.caption_edit_kinds", kind, DETAIL_KINDS)
        if self.caption_edit != "full" and self.format in ("world", "webdataset"):
            raise MMCLError(
                f"data.caption_edit={self.caption_edit} edits captions read from files "
                "(csv, coco, imagefolder, imagenet_captions); for worlds use "
                "data.shapes.caption_preset"
            )
        if self.val_format:
            check_choice("data.val_format", self.val_format, (*DATA_FORMATS, AUTO))
        if self.val_shifts and not self.val_path:
            raise MMCLError("data.val_shifts needs data.val_path (the in-distribution test set)")
        for name in self.val_shifts:
            if name == "val":
                raise MMCLError("data.val_shifts: 'val' names data.val_path; pick another name")
        if self.class_subset:
            check_choice("data.class_subset", self.class_subset, SUBSET_NAMES)
        if len(self.csv_separator) != 1:
            raise MMCLError(
                f"config key 'data.csv_separator' = {self.csv_separator!r} must be one "
                "character (use \\t or tab for TSV)"
            )
        if self.format != "world" and not self.path and not self.val_path:
            raise MMCLError(
                f"data.format={self.format} needs data.path (the file, folder or shards to read; "
                "data.val_path alone is enough to evaluate)"
            )
        if self.caption_template and self.caption_template.count("{}") != 1:
            raise MMCLError(
                f"config key 'data.caption_template' = {self.caption_template!r} must contain "
                "one {} for the class name (or be empty)"
            )


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
        check_choice("train.precision", self.precision, ("auto", "bf16", "fp32"))
        check_choice("train.device", self.device, ("auto", "cpu", "cuda"))
        check_choice("train.nonfinite", self.nonfinite, ("stop", "skip"))
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise MMCLError(
                f"config key 'train.betas' = {self.betas} must be two numbers in [0, 1)"
            )


@dataclass
class EvalConfig:
    tasks: list[str] = field(
        default_factory=lambda: ["zeroshot", "classifier", "linear_probe", "attributes"]
    )
    splits: list[str] = field(default_factory=lambda: list(SHAPES_EVAL_SPLITS))
    probe_train_size: int = 4000  # train images the probes are fitted on
    attribute_split: str = "balanced"  # attributes independent here; "" probes train -> id
    mmvp_path: str = ""  # local MMVP-VLM folder (Questions.csv + images); "" = world pairs
    mmvp_pairs: int = 15  # world pairs per attribute (MMVP has 15 per pattern)
    after_train: bool = True  # evaluate when training ends
    # Every N steps, score the model's own predictions (zero-shot, or its classifier head) on
    # every split into metrics.jsonl as eval/<task>/<split>: robustness over training. 0: off.
    every: int = 0

    def validate(self) -> None:
        for task in self.tasks:
            check_choice("eval.tasks", task, EVAL_TASK_NAMES)
        check_range("eval.probe_train_size", self.probe_train_size, 10)
        check_range("eval.every", self.every, 0)
        check_range("eval.mmvp_pairs", self.mmvp_pairs, 1)


@dataclass
class RunConfig:
    name: str = "run"
    out_dir: str = "runs"  # the run folder is out_dir/name
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
