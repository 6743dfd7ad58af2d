"""ImageNet class tables and the class subsets of ImageNet-R, ImageNet-A and ObjectNet.

ImageNet-R and ImageNet-A hold 200 ImageNet classes each, ObjectNet 113 classes that overlap
ImageNet (some of them several ImageNet classes: alarm clock = analog + digital clock). Scoring a
model on them means scoring only those classes: zero-shot over the subset's names, probes over
its labels (imagenet-testbed's `class_sublist`, Taori et al. 2020). The tables and their
provenance are in `mmcl/data/tables/` (class_subsets.md).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from mmcl.errors import MMCLError

SUBSET_TABLES = {
    "imagenet_r": "imagenet_r_classes.csv",
    "imagenet_a": "imagenet_a_classes.csv",
    "objectnet": "objectnet_classes.csv",
}
# Layouts whose class folders are ImageNet-1k class indices ("0".."999"), not wnids
CLASS_INDEX_LAYOUTS = ("imagenet_v2",)
SUBSET_NAMES = (*SUBSET_TABLES, *CLASS_INDEX_LAYOUTS)  # names with a known class layout
OBJECTNET_FOLDERS = 313  # ObjectNet's image folders; its table indexes them in sorted order


def _table(name: str) -> list[dict[str, str]]:
    text = resources.files("mmcl.data.tables").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k wnids in class-index order."""
    return [row["wnid"] for row in _table("imagenet_classes.csv")]


@functools.cache
def imagenet_class_names() -> list[str]:
    """Readable names in class-index order (open_clip's, as used for zero-shot)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


@dataclass(frozen=True)
class ClassSubset:
    """A test set's classes as groups of ImageNet classes (one class each, but ObjectNet's).

    groups[k]: the ImageNet indices of subset class k; keys: what a folder of class k is
    called (a wnid for ImageNet-R/A, ObjectNet's sorted folder position for ObjectNet).
    """

    name: str
    groups: tuple[tuple[int, ...], ...]
    keys: tuple[str, ...]

    @property
    def class_names(self) -> list[str]:
        """Subset class k is named after the first ImageNet class of its group."""
        names = imagenet_class_names()
        return [names[group[0]] for group in self.groups]

    @property
    def imagenet_indices(self) -> list[int]:
        return sorted(i for group in self.groups for i in group)

    def imagenet_to_subset(self) -> dict[int, int]:
        """ImageNet class index -> subset class index, for mapping ImageNet-1k predictions."""
        return {i: k for k, group in enumerate(self.groups) for i in group}


@functools.cache
def class_subset(name: str) -> ClassSubset:
    if name not in SUBSET_TABLES:
        valid = ", ".join(SUBSET_TABLES)
        raise MMCLError(f"data.imagefolder.class_subset={name!r} is unknown (valid: {valid})")
    rows = _table(SUBSET_TABLES[name])
    key_column = "objectnet_folder_index" if name == "objectnet" else "wnid"
    grouped: dict[str, list[int]] = {}
    for row in rows:
        grouped.setdefault(row[key_column], []).append(int(row["imagenet_index"]))
    keys = list(grouped)
    return ClassSubset(name, tuple(tuple(grouped[k]) for k in keys), tuple(keys))


def class_index_labels(folders: list[str], where: str) -> dict[str, int]:
    """Folder -> ImageNet class index for ImageNetV2's layout (folders "0".."999")."""
    bad = [f for f in folders if not f.isdigit() or int(f) >= len(imagenet_wnids())]
    if bad:
        raise MMCLError(
            f"class-map mismatch in {where}: ImageNetV2's layout has class-index folders "
            f"0..999, found {bad[:3]}"
        )
    return {f: int(f) for f in folders}


def subset_labels(subset: ClassSubset, folders: list[str], where: str) -> dict[str, int]:
    """Folder name -> subset class for the folders of `where`; folders outside are dropped.

    ImageNet-R/A (and ImageNet val scored on their classes) have wnid folders; ObjectNet has its
    313 named folders, matched by sorted position. Anything else is a class-map mismatch.
    """
    if subset.name == "objectnet" and not all(f in imagenet_wnids() for f in folders):
        if len(folders) != OBJECTNET_FOLDERS:
            raise MMCLError(
                f"class-map mismatch in {where}: data.imagefolder.class_subset=objectnet expects "
                f"ObjectNet's {OBJECTNET_FOLDERS} class folders (or ImageNet wnid folders), found "
                f"{len(folders)}"
            )
        position = {str(i): folder for i, folder in enumerate(sorted(folders))}
        return {position[key]: k for k, key in enumerate(subset.keys)}
    unknown = [f for f in folders if f not in imagenet_wnids()]
    if unknown:
        raise MMCLError(
            f"class-map mismatch in {where}: data.imagefolder.class_subset={subset.name} expects "
            f"ImageNet wnid folders (n01440764, ...), found {unknown[:3]}"
        )
    wnids = imagenet_wnids()
    to_subset = subset.imagenet_to_subset()
    mapping = {f: to_subset[wnids.index(f)] for f in folders if wnids.index(f) in to_subset}
    if not mapping:
        raise MMCLError(
            f"class-map mismatch in {where}: none of its {len(folders)} class folders is one of "
            f"{subset.name}'s {len(subset.groups)} classes"
        )
    return mapping
