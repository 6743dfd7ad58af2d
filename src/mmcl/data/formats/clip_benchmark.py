"""A world split in CLIP_benchmark's webdataset layout (`mmcl data make WORLD --format
clip_benchmark`), so that CLIP_benchmark, or anyone with open_clip and webdataset alone, can
score a model exported from mmcl on the very images and prompts mmcl scores it on.

CLIP_benchmark reads one dataset per folder (`clip_benchmark eval --dataset wds/NAME
--dataset_root ROOT`, its `build_wds_dataset`):

    ROOT/classnames.txt                         one class name per line, in label order
    ROOT/zeroshot_classification_templates.txt  one prompt per line, `{c}` for the class name
    ROOT/test/nshards.txt                       the number of shards N
    ROOT/test/{0..N-1}.tar                      per sample <key>.png|jpg|webp and <key>.cls

Every world split is written as a dataset of its own, OUT/<split>, with its images under
`test/` (the split CLIP_benchmark scores by default): to CLIP_benchmark a shifted split is
another dataset beside the in-distribution one, as ImageNet-R is beside ImageNet. The class
names and templates are the split's own, which are the ones mmcl's zero-shot task scores the
world with (every split of a world shares them), with mmcl's `{}` written as CLIP_benchmark's
`{c}`. `mmcl_split.json` names the split and its size, which CLIP_benchmark's own result files
do not, so a wrong split or a short read shows at once.

The folder is written whole beside its final place, then renamed over it: an error or a kill
leaves the previous folder or none, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import webdataset as wds

from mmcl import __version__
from mmcl.data.formats.images import encode_image
from mmcl.data.formats.writers import WRITERS, WriteOptions
from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError
from mmcl.io import atomic_write_json, atomic_write_text

SPLIT = "test"  # the folder CLIP_benchmark reads unless given --split
CLASSNAMES = "classnames.txt"
TEMPLATES = "zeroshot_classification_templates.txt"
NSHARDS = "nshards.txt"
SOURCE = "mmcl_split.json"


@WRITERS.register("clip_benchmark")
def write_clip_benchmark(split: WorldSplit, out: Path, options: WriteOptions) -> list[Path]:
    """out/<split>/ as one CLIP_benchmark dataset (see the module doc); returns that folder."""
    names = _checked_lines("class name", split.class_names)
    templates = _checked_lines("template", clip_benchmark_templates(split.prompt_templates))
    target = out / split.name
    with _replaced_folder(target) as folder:
        atomic_write_text(folder / CLASSNAMES, "\n".join(names) + "\n")
        atomic_write_text(folder / TEMPLATES, "\n".join(templates) + "\n")
        shards = _write_shards(split, folder / SPLIT, options)
        atomic_write_text(folder / SPLIT / NSHARDS, f"{shards}\n")
        atomic_write_json(folder / SOURCE, _source(split, options))
    return [target]


def clip_benchmark_templates(templates: Sequence[str]) -> list[str]:
    """mmcl's templates (one `{}` for the class) as CLIP_benchmark's (`{c}`, filled by
    `template.format(c=name)`); an MMCLError for one the two would fill differently."""
    converted = [template.replace("{}", "{c}") for template in templates]
    for template, ours in zip(templates, converted, strict=True):
        try:
            same = ours.format(c="x") == template.format("x")
        except (IndexError, KeyError, ValueError):
            same = False
        if not same:
            raise MMCLError(
                f"prompt template {template!r} cannot be written for CLIP_benchmark, which fills "
                "'{c}' by str.format: use one '{}' for the class name and no other braces"
            )
    return converted


def _checked_lines(kind: str, values: Sequence[str]) -> list[str]:
    """`values` as lines CLIP_benchmark reads back unchanged (it strips every line)."""
    for value in values:
        if not value or "\n" in value or "\r" in value or value != value.strip():
            raise MMCLError(
                f"{kind} {value!r} cannot be a line of CLIP_benchmark's text files, which strip "
                f"each line: rename it without line breaks or surrounding spaces"
            )
    return list(values)


def _write_shards(split: WorldSplit, folder: Path, options: WriteOptions) -> int:
    """folder/{0..N-1}.tar with `options.shard_size` samples each; returns N.

    Keys are the split's indices, so sample order is the split's; mtime is fixed, so the same
    split gives the same bytes.
    """
    folder.mkdir(parents=True)
    ext, size = options.image_ext, options.shard_size
    starts = range(0, len(split), size)
    for shard, start in enumerate(starts):
        with open(folder / f"{shard}.tar", "wb") as handle:
            with wds.TarWriter(handle, mtime=0.0) as tar:
                for i in range(start, min(start + size, len(split))):
                    image = encode_image(split.images[i], ext)
                    tar.write({"__key__": f"{i:06d}", ext: image, "cls": int(split.labels[i])})
            handle.flush()
            os.fsync(handle.fileno())
    return len(starts)


def _source(split: WorldSplit, options: WriteOptions) -> dict[str, object]:
    """What the folder holds, for a reader to check against the results it re-checks."""
    return {
        "split": split.name,
        "description": split.description,
        "n_samples": len(split),
        "image_size": split.image_size,
        "image_format": options.image_ext,
        "classes": len(split.class_names),
        "templates": list(split.prompt_templates),
        "mmcl_version": __version__,
    }


@contextlib.contextmanager
def _replaced_folder(target: Path) -> Iterator[Path]:
    """A new temporary folder beside `target`, renamed to `target` when the block ends well
    (a previous dataset there is replaced) and removed when it does not.

    Only a folder that is empty or was written here (it holds `mmcl_split.json`) is replaced,
    so a mistyped --out never deletes someone's data.
    """
    if target.exists() and not (target.is_dir() and _replaceable(target)):
        raise MMCLError(
            f"--out: {target} exists and is not a dataset `mmcl data make --format "
            "clip_benchmark` wrote; choose another --out or remove it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = _hidden_folder(target, ".tmp")
    try:
        yield work
        os.chmod(work, 0o755)  # mkdtemp makes it private; datasets are shared
        if target.exists():
            old = _hidden_folder(target, ".old")
            os.replace(target, old / target.name)
            os.replace(work, target)
            shutil.rmtree(old)
        else:
            os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _hidden_folder(target: Path, suffix: str) -> Path:
    """A new, uniquely named hidden folder beside `target` (same file system: renames work)."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent))


def _replaceable(folder: Path) -> bool:
    return (folder / SOURCE).is_file() or not any(folder.iterdir())


def clip_benchmark_command(model: str, out: Path, splits: Sequence[str]) -> str:
    """The CLIP_benchmark command scoring open_clip model `model` (`local-dir:EXPORT`) on the
    datasets `splits` written under `out`; in float32 (`--no_amp`), as mmcl scores on the CPU,
    and with `--pretrained ''`, which a `local-dir:` model ignores."""
    datasets = " ".join(f"wds/{name}" for name in splits)
    root = shlex.quote(f"{out}/{{dataset_cleaned}}")
    return (
        f"clip_benchmark eval --model {shlex.quote(model)} --pretrained '' --dataset {datasets} "
        f"--dataset_root {root} --task zeroshot_classification --no_amp"
    )
