"""COCO captions: `captions_<split>.json` (images + annotations) and its image folder.

Every caption of an image is kept in `Record.captions` (COCO has about five); the dataset
samples one per step from (seed, epoch, index), so a resumed run draws the same ones. The image
folder is `data.coco.images` when set, else the first of `<json dir>/../<split>`,
`<json dir>/<split>`, `<json dir>`, `<json dir>/..` that holds any listed image (COCO's
own layout is `annotations/captions_train2017.json` beside `train2017/`); when none does, the
error lists the folders tried and names `data.coco.images`.

Image ids are matched as text, so an export that writes `"id": "7"` in one list and
`"image_id": 7` in the other still pairs them. A caption that is not text (a number, a list) makes
its image a bad sample naming the annotation; a null caption is no caption.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.formats.readers import reader
from mmcl.data.formats.records import Record, RecordSet
from mmcl.errors import MMCLError

ID_TYPES = (int, str)  # COCO's ids are integers; some exports write them as strings


@dataclass(frozen=True)
class CocoOptions:
    """`data.coco.*`."""

    images: str = ""  # the image folder; "" = found next to the JSON (COCO's own layout)


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


def image_folder(json_path: Path, image_root: str, file_names: list[str]) -> Path:
    """Where the images listed in the JSON are: `image_root`, or the first candidate folder
    holding any of them; an MMCLError listing the folders tried when none does."""
    if image_root:
        if not Path(image_root).is_dir():
            raise MMCLError(f"data.coco.images={image_root} is not a folder")
        return Path(image_root)
    split = json_path.stem.removeprefix("captions_")
    here = json_path.parent
    candidates = [here.parent / split, here / split, here, here.parent]
    for folder in candidates:
        if folder.is_dir() and any((folder / name).is_file() for name in file_names):
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise MMCLError(
        f"{json_path}: its images ({file_names[0]!r}, ...) are in none of {tried}; set "
        "data.coco.images to the folder that holds them"
    )


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


def _captions(json_path: Path, annotations: list) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Captions by image id (as text), and for images with a caption that is not text, why."""
    captions: dict[str, list[str]] = {}
    flaws: dict[str, str] = {}
    for i, annotation in enumerate(annotations):
        where = f"annotations[{i}]"
        image_id = str(_field(json_path, where, annotation, "image_id", ID_TYPES))
        text = annotation.get("caption")
        if isinstance(text, str):
            captions.setdefault(image_id, []).append(text.strip())
        elif text is not None:  # null is no caption; a number or list is a mistake to name
            number = isinstance(text, int | float) and not isinstance(text, bool)
            kind = "a number" if number else type(text).__name__
            flaws.setdefault(
                image_id,
                f"{where}['caption'] is {json.dumps(text)[:20]} ({kind}), not text: write it "
                "as a JSON string",
            )
    return captions, flaws


@reader("coco", options=CocoOptions)
def read_coco(path: Path, options: CocoOptions) -> RecordSet:
    """One `Record` per image with all its captions; `source` is `file:images[i]`."""
    json_path = find_captions_json(path)
    data = _load(json_path)
    captions, flaws = _captions(json_path, data["annotations"])
    listed = []
    for i, image in enumerate(data["images"]):
        image_id = _field(json_path, f"images[{i}]", image, "id", ID_TYPES)
        file_name = _field(json_path, f"images[{i}]", image, "file_name", (str,))
        listed.append((str(image_id), file_name))
    if not listed:
        raise MMCLError(f"{json_path} lists no images: expected a non-empty 'images' list")
    folder = image_folder(json_path, options.images, [name for _, name in listed])
    records = [
        Record(
            image=str(folder / file_name),
            captions=tuple(captions.get(image_id, ())),
            source=f"{json_path.name}:images[{i}]",
            error=flaws.get(image_id, ""),
        )
        for i, (image_id, file_name) in enumerate(listed)
    ]
    return RecordSet(records, [], name=str(json_path))
