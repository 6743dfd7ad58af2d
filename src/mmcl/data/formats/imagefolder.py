"""ImageFolder (ImageNet-style): `root/<class>/<image>`, class folders sorted into labels.

Folders named by ImageNet wnids get readable class names (for captions and zero-shot prompts);
`data.imagefolder.class_subset` keeps only the classes of ImageNet-R / ImageNet-A / ObjectNet
and relabels them 0..K-1 in the subset's order, so probes and zero-shot score only the shared
classes;
`imagenet_v2` reads ImageNetV2's class-index folders ("0".."999") as ImageNet classes.
Captions "a photo of a {class}." are made when `data.imagefolder.caption_template` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmcl.config import check_choice
from mmcl.data.formats.class_subsets import (
    CLASS_INDEX_LAYOUTS,
    SUBSET_NAMES,
    class_index_labels,
    class_subset,
    imagenet_class_names,
    imagenet_wnids,
    subset_labels,
)
from mmcl.data.formats.images import IMAGE_EXTENSIONS
from mmcl.data.formats.readers import reader
from mmcl.data.formats.records import Record, RecordSet
from mmcl.errors import MMCLError


@dataclass(frozen=True)
class ImageFolderOptions:
    """`data.imagefolder.*`."""

    caption_template: str = "a photo of a {}."  # captions from class names; "" for none
    # only the classes of imagenet_r | imagenet_a | objectnet, relabelled in the subset's order;
    # imagenet_v2 reads class-index folders ("0".."999") as ImageNet classes
    class_subset: str = ""

    def validate(self) -> None:
        if self.class_subset:
            check_choice("data.imagefolder.class_subset", self.class_subset, SUBSET_NAMES)
        if self.caption_template and self.caption_template.count("{}") != 1:
            raise MMCLError(
                "config key 'data.imagefolder.caption_template' = "
                f"{self.caption_template!r} must contain one {{}} for the class name (or be "
                "empty)"
            )


def _class_folders(root: Path) -> list[str]:
    if not root.is_dir():
        raise MMCLError(
            f"data.path={root} is not a folder: data.format=imagefolder reads {root}/<class>/"
        )
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise MMCLError(f"{root} has no class folders: expected {root}/<class>/<image>.jpg")
    return folders


def _labels(root: Path, folders: list[str], subset: str) -> tuple[dict[str, int], list[str]]:
    """Folder -> label and the class names, for the whole folder or one class subset."""
    if subset in CLASS_INDEX_LAYOUTS:
        return class_index_labels(folders, str(root)), imagenet_class_names()
    if subset:
        chosen = class_subset(subset)
        return subset_labels(chosen, folders, str(root)), chosen.class_names
    wnids = imagenet_wnids()
    if all(f in wnids for f in folders):
        names = imagenet_class_names()
        return {f: i for i, f in enumerate(folders)}, [names[wnids.index(f)] for f in folders]
    return {f: i for i, f in enumerate(folders)}, [f.replace("_", " ") for f in folders]


@reader("imagefolder", options=ImageFolderOptions)
def read_imagefolder(path: Path, options: ImageFolderOptions) -> RecordSet:
    """One `Record` per image file; `source` is `<class>/<file>`."""
    folders = _class_folders(path)
    labels, class_names = _labels(path, folders, options.class_subset)
    records = []
    for folder in sorted(labels):
        label = labels[folder]
        caption = options.caption_template.format(class_names[label])
        for file in sorted((path / folder).iterdir()):
            if file.suffix.lower() in IMAGE_EXTENSIONS:
                records.append(
                    Record(
                        image=str(file),
                        captions=(caption,) if options.caption_template else (),
                        label=label,
                        source=f"{folder}/{file.name}",
                    )
                )
    if not records:
        kinds = ", ".join(IMAGE_EXTENSIONS)
        raise MMCLError(f"no images found in {path}/<class>/ (looked for {kinds})")
    return RecordSet(records, class_names, name=str(path))
