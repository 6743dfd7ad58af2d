"""COCO captions: `captions_<split>.json` (images + annotations) and its image folder.

Every caption of an image is kept in `Record.captions` (COCO has about five); the dataset
samples one per step from (seed, epoch, index), so a resumed run draws the same ones. The image
folder is `data.coco_images` when set, else the first of `<json dir>/../<split>`,
`<json dir>/<split>`, `<json dir>` that exists (COCO's own layout is
`annotations/captions_train2017.json` beside `train2017/`).
"""

from __future__ import annotations

import json
from pathlib import Path

from mmcl.data.formats.readers import READERS, ReaderOptions
from mmcl.data.formats.records import Record, RecordSet
from mmcl.errors import MMCLError

ID_TYPES = (int, str)  # COCO's ids are integers; some exports write them as strings


def find_captions_json(path: Path) -> Path:
    """`path` itself, or the one `captions_*.json` in it or in its `annotations/`."""
    if path.is_file():
        return path
    found = sorted(path.glob("captions_*.json")) + sorted(path.glob("annotations/captions_*.json"))
    if len(found) != 1:
        listed = ", ".join(str(p) for p in found) or "none"
        raise MMCLError(
            f"data.path={path}: expected one captions_*.json there or in annotations/ "
            f"(found {listed}); point data.path at the JSON file"
        )
    return found[0]


def image_folder(json_path: Path, image_root: str) -> Path:
    if image_root:
        if not Path(image_root).is_dir():
            raise MMCLError(f"data.coco_images={image_root} is not a folder")
        return Path(image_root)
    split = json_path.stem.removeprefix("captions_")
    candidates = [json_path.parent.parent / split, json_path.parent / split, json_path.parent]
    return next(c for c in candidates if c.is_dir())


def _load(json_path: Path) -> dict:
    """The parsed file, checked to be an object whose 'images' and 'annotations' are lists."""
    text = json_path.read_text(encoding="utf-8", errors="surrogateescape")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MMCLError(f"{json_path} is not valid JSON ({error})") from None
    shape = (
        "a COCO captions file is a JSON object with 'images' ([{id, file_name}]) and "
        "'annotations' ([{image_id, caption}])"
    )
    if not isinstance(data, dict):
        raise MMCLError(f"{json_path} holds {type(data).__name__} {str(data)[:40]}, not {shape}")
    missing = [k for k in ("images", "annotations") if k not in data]
    if missing:
        raise MMCLError(f"{json_path}: missing key(s) {missing}: {shape}")
    for key in ("images", "annotations"):
        if not isinstance(data[key], list):
            got = "null" if data[key] is None else type(data[key]).__name__
            raise MMCLError(f"{json_path}: {key!r} is {got}, not a list: {shape}")
    return data


def _field(json_path: Path, where: str, item: dict, key: str, kinds: tuple[type, ...]):
    """`item[key]`, or an error naming the item when it is missing or of the wrong type."""
    if not isinstance(item, dict) or key not in item:
        raise MMCLError(f"{json_path}: {where} has no {key!r} (expected a COCO captions file)")
    value = item[key]
    if not isinstance(value, kinds) or isinstance(value, bool):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise MMCLError(f"{json_path}: {where}[{key!r}] is {value!r}, expected {names}")
    return value


@READERS.register("coco")
def read_coco(path: Path, options: ReaderOptions) -> RecordSet:
    """One `Record` per image with all its captions; `source` is `file:images[i]`."""
    json_path = find_captions_json(path)
    data = _load(json_path)
    folder = image_folder(json_path, options.image_root)
    captions: dict[int, list[str]] = {}
    for i, annotation in enumerate(data["annotations"]):
        image_id = _field(json_path, f"annotations[{i}]", annotation, "image_id", ID_TYPES)
        text = annotation.get("caption")
        if isinstance(text, str):  # a null or non-text caption is no caption (counted later)
            captions.setdefault(image_id, []).append(text.strip())
    records = []
    for i, image in enumerate(data["images"]):
        image_id = _field(json_path, f"images[{i}]", image, "id", ID_TYPES)
        file_name = _field(json_path, f"images[{i}]", image, "file_name", (str,))
        records.append(
            Record(
                image=str(folder / file_name),
                captions=tuple(captions.get(image_id, ())),
                source=f"{json_path.name}:images[{i}]",
            )
        )
    if not records:
        raise MMCLError(f"{json_path} lists no images: expected a non-empty 'images' list")
    return RecordSet(records, [], name=str(json_path))
