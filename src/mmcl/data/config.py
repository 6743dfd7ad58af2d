"""What data a run reads (`data.*`): a built-in world or a dataset on disk, and its test sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmcl.config import check_choice, check_range, from_dict
from mmcl.data.caption_edits import DETAIL_KINDS
from mmcl.data.formats.class_subsets import CLASS_INDEX_LAYOUTS, SUBSET_TABLES
from mmcl.data.formats.detect import file_formats, infer_format
from mmcl.data.templates import resolve_templates
from mmcl.data.worlds import WORLDS, get_world
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError

SUBSET_NAMES = (*SUBSET_TABLES, *CLASS_INDEX_LAYOUTS)  # shift names with a known class layout
AUTO = "auto"  # data.format / data.val_format: inferred from the path, and saved resolved
SEPARATOR_ALIASES = {"\\t": "\t", "tab": "\t", "comma": ","}  # `\t` as typed in a shell


def data_formats() -> list[str]:
    """What `data.format` accepts: a world, a registered file format, or auto."""
    return ["world", *file_formats(), AUTO]


@dataclass
class DataConfig:
    # world, or a file format: csv | coco | webdataset | imagefolder | imagenet_captions | any
    # registered reader | auto (inferred from data.path)
    format: str = "world"
    world: str = "shapes"  # a registered world to train and evaluate on (format=world)
    shapes: ShapesConfig = field(default_factory=ShapesConfig)
    # Any other registered world's config fields, e.g. data.world_options.n=200 (shapes has its
    # own typed section above); read into that world's config dataclass, keys checked.
    world_options: dict[str, Any] = field(default_factory=dict)
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

    def world_config(self) -> Any:
        """The config of `data.world`: `data.shapes` for shapes; for `fashion` the knobs it
        shares with shapes from `data.shapes` and its own from `data.world_options`; for any
        other registered world its config dataclass filled from `data.world_options`."""
        world, _ = get_world(self.world)
        if hasattr(world.config_cls, "from_knobs"):  # a composited world sharing shapes' knobs
            return world.config_cls.from_knobs(self.shapes, self.world_options)
        if not isinstance(self.shapes, world.config_cls):
            return from_dict(world.config_cls, self.world_options, prefix="data.world_options.")
        if self.world_options:
            raise MMCLError(
                f"data.world_options sets the fields of a registered world; {self.world} has its "
                f"own section: use data.{self.world}.<field>=value"
            )
        return self.shapes

    def _inferred(self, key: str, path: str) -> str:
        """The format of `path` (a TSV also sets a tab separator, unless one was chosen)."""
        if not path:
            raise MMCLError(f"data.format=auto needs {key} (the format is inferred from it)")
        fmt, implied = infer_format(path)
        if "csv_separator=tab" in implied and self.csv_separator == ",":
            self.csv_separator = "\t"
        return fmt

    def validate(self) -> None:
        check_choice("data.format", self.format, data_formats())
        check_choice("data.world", self.world, WORLDS.names())
        if self.format == "world":
            self.world_config()  # the world's options are checked now, not when it renders
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
            check_choice("data.val_format", self.val_format, data_formats())
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
