"""Which reader a dataset path needs, from the path itself (`--format` overrides it).

`.csv` / `.tsv` files are CSV (a TSV also implies `csv.separator=tab`); `.tar` files (and
compressed ones, `.tar.gz`, which the shard reader then refuses naming the fix), brace
patterns (`shards-{000..009}.tar`) and `::`-joined lists are webdataset shards; a `.json` file
holding an object is COCO captions, one holding a list ImageNet-Captions; a folder is COCO when it
holds a `captions_*.json` (or `annotations/captions_*.json`), webdataset when it holds `.tar`
shards, and ImageFolder when it holds class folders.
"""

from __future__ import annotations

from pathlib import Path

from mmcl.data.formats.readers import reader_formats
from mmcl.errors import MMCLError

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")


def infer_format(path: str) -> tuple[str, list[str]]:
    """(format, the `data.*` overrides it implies, e.g. `csv.separator=tab`) for `path`; raises
    naming the path if unsure."""
    if is_pattern(path) or path.lower().endswith(TAR_SUFFIXES):
        return "webdataset", []
    where = Path(path)
    if not where.exists():
        raise MMCLError(f"{path} does not exist (expected a dataset file, folder or shards)")
    suffix = where.suffix.lower()
    if where.is_file() and suffix in (".csv", ".tsv"):
        return "csv", ["csv.separator=tab"] if suffix == ".tsv" else []
    if where.is_file() and suffix == ".json":
        return _json_format(where), []
    if where.is_dir():
        found = _folder_format(where)
        if found:
            return found, []
    raise MMCLError(
        f"cannot tell the dataset format of {path}: expected a .csv/.tsv file, a COCO "
        "captions_*.json, .tar shards or a folder of class folders; give --format "
        f"({', '.join(reader_formats())})"
    )


def is_pattern(path: str) -> bool:
    """Whether `path` names several shards (a brace pattern or a `::`-joined list)."""
    return "::" in path or "{" in path


def _json_format(path: Path) -> str:
    """COCO captions files hold an object, ImageNet-Captions files a list of entries."""
    with path.open("rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "imagenet_captions" if start.startswith(b"[") else "coco"


def _folder_format(path: Path) -> str:
    if any(path.glob("captions_*.json")) or any(path.glob("annotations/captions_*.json")):
        return "coco"
    if any(p.name.lower().endswith(TAR_SUFFIXES) for p in path.iterdir()):
        return "webdataset"
    if any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        return "imagefolder"
    return ""
