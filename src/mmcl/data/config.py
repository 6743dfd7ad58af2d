"""What data a run reads (`data.*`): a built-in world or a dataset on disk, and its test sets.

The settings every kind of data shares are `DataConfig`'s own fields; each format's own options
live with the format (`data.<format>.*`: `CsvOptions` in `formats/csv_captions.py` is
`data.csv.*`), read through the format registry into `DataConfig.formats`, so a plugin format
brings its options and no code here names a format.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmcl.config import check_choice, check_range, from_dict, held_section, sections_field
from mmcl.data.caption_edits import DETAIL_KINDS
from mmcl.data.formats.detect import infer_format
from mmcl.data.formats.readers import READERS, get_reader, reader_formats
from mmcl.data.templates import resolve_templates
from mmcl.data.worlds import WORLDS, get_world
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError

AUTO = "auto"  # data.format / data.val_format: inferred from the path, and saved resolved


def data_formats() -> list[str]:
    """What `data.format` accepts: a world, a registered file format, or auto."""
    return ["world", *reader_formats(), AUTO]


def format_kinds() -> dict[str, type]:
    """Every registered format's options section: format name -> its dataclass (`data.<fmt>.*`)."""
    taken = [f.name for f in dataclasses.fields(DataConfig)]
    kinds = {}
    for name in reader_formats():
        kind = READERS.get(name).options_cls
        if kind is None:
            continue
        if name in taken:
            raise MMCLError(
                f"data format {name!r} has options, so its name must not be one of "
                f"{', '.join(taken)} (the data section's own keys): register it under another"
            )
        kinds[name] = kind
    return kinds


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
    # ---- datasets on disk (format != world); each format's own options are data.<format>.* ----
    path: str = ""  # CSV/TSV file, COCO captions JSON (or its folder), class-folder root, or
    # webdataset shards ("shards-{000..009}.tar", several joined by "::")
    image_size: int = 32  # images are resized (shorter side) and centre-cropped to this
    max_bad_fraction: float = 0.001  # bad samples tolerated (skipped) before the run stops
    # Xue et al.'s caption ablation on real captions: full | no_details | label (class only)
    caption_edit: str = "full"
    caption_edit_kinds: list[str] = field(default_factory=lambda: list(DETAIL_KINDS))
    val_path: str = ""  # evaluation split (same kinds as path); "" = no test split
    val_format: str = ""  # format of val_path; "" = same as format; auto = from val_path
    # Shifted test sets scored beside val, name -> path in val's format (e.g. imagenet_r:
    # /data/imagenet-r); a name that is a class subset (imagenet_r, imagenet_a, objectnet)
    # reads only those classes, and zero-shot then chooses among the classes a split holds.
    val_shifts: dict[str, str] = field(default_factory=dict)
    # zero-shot prompts: templates with {} for the class name, or presets (openai_imagenet: the
    # 80 of CLIP's paper; simple_imagenet: open_clip's 7), expanded when the config loads
    prompt_templates: list[str] = field(default_factory=lambda: ["a photo of a {}."])
    # Each format's own options by format name, written flat (`data.csv.*`, `data.webdataset.*`):
    # held for data.format and data.val_format, and for any other format given.
    formats: dict[str, Any] = sections_field(format_kinds)

    # Keys that moved into their format's section: the unknown-key error names the new key.
    RENAMED: ClassVar[dict[str, str]] = {
        "csv_img_key": "csv.img_key",
        "csv_caption_key": "csv.caption_key",
        "csv_label_key": "csv.label_key",
        "csv_separator": "csv.separator",
        "coco_images": "coco.images",
        "caption_template": "imagefolder.caption_template",
        "class_subset": "imagefolder.class_subset",
        "imagenet_root": "imagenet_captions.imagenet_root",
        "captions_text": "imagenet_captions.captions_text",
        "caption_class_filter": "imagenet_captions.caption_class_filter",
        "shuffle_buffer": "webdataset.shuffle_buffer",
        "shard_samples": "webdataset.shard_samples",
    }

    def __post_init__(self) -> None:
        self.prompt_templates = resolve_templates(self.prompt_templates)
        implied: list[str] = []
        if self.format == AUTO:
            self.format, implied = self._inferred("data.path", self.path)
        if self.val_format == AUTO:
            self.val_format, implied_val = self._inferred("data.val_path", self.val_path)
            implied += implied_val
        kinds = format_kinds()
        held = {fmt: kinds[fmt]() for fmt in (self.format, self.val_format) if fmt in kinds}
        self.formats = {**held, **self.formats}  # a new dict: `replace` shares the old one
        for item in implied:
            self._imply(item)

    def __getattr__(self, key: str) -> Any:
        """A format's options by its name (`cfg.csv`): the ones held, else its defaults."""
        return held_section(self, key, "format options")

    def options(self, fmt: str) -> Any:
        """The options format `fmt` is read with (None for a format that has none)."""
        return getattr(self, fmt) if fmt in format_kinds() else None

    def with_options(self, fmt: str, **changes: Any) -> DataConfig:
        """This config with `changes` made to format `fmt`'s options (itself left as it is)."""
        changed = dataclasses.replace(self.options(fmt), **changes)
        return dataclasses.replace(self, formats={**self.formats, fmt: changed})

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

    def _inferred(self, key: str, path: str) -> tuple[str, list[str]]:
        """The format of `path`, and the options it implies (a TSV: csv.separator=tab)."""
        if not path:
            raise MMCLError(f"data.format=auto needs {key} (the format is inferred from it)")
        return infer_format(path)

    def _imply(self, item: str) -> None:
        """Apply an implied `<format>.<field>=value` unless that field was set otherwise."""
        dotted, value = item.split("=", 1)
        fmt, name = dotted.split(".")
        options = self.formats[fmt]
        if getattr(options, name) == getattr(type(options)(), name):
            self.formats[fmt] = dataclasses.replace(options, **{name: value})

    def validate(self) -> None:
        check_choice("data.format", self.format, data_formats())
        check_choice("data.world", self.world, WORLDS.names())
        if self.format == "world":
            self.world_config()  # the world's options are checked now, not when it renders
        check_range("data.num_workers", self.num_workers, 0, 64)
        check_range("data.image_size", self.image_size, 8, 1024)
        check_range("data.max_bad_fraction", self.max_bad_fraction, 0, 1)
        check_choice("data.caption_edit", self.caption_edit, ("full", "no_details", "label"))
        for kind in self.caption_edit_kinds:
            check_choice("data.caption_edit_kinds", kind, DETAIL_KINDS)
        # only the captions of records read into memory can be edited (not a stream's)
        editable = self.format != "world" and not get_reader(self.format).stream
        if self.caption_edit != "full" and not editable:
            formats = [f for f in reader_formats() if not get_reader(f).stream]
            raise MMCLError(
                f"data.caption_edit={self.caption_edit} edits captions read from files "
                f"({', '.join(formats)}); for worlds use data.shapes.caption_preset"
            )
        if self.val_format:
            check_choice("data.val_format", self.val_format, data_formats())
        if self.val_shifts and not self.val_path:
            raise MMCLError("data.val_shifts needs data.val_path (the in-distribution test set)")
        for name in self.val_shifts:
            if name == "val":
                raise MMCLError("data.val_shifts: 'val' names data.val_path; pick another name")
        if self.format != "world" and not self.path and not self.val_path:
            raise MMCLError(
                f"data.format={self.format} needs data.path (the file, folder or shards to read; "
                "data.val_path alone is enough to evaluate)"
            )
