"""ImageNet-Captions (Fang et al. 2022): Flickr title / description / tags of ImageNet train images.

The release (`mlfoundations/imagenet-captions`, `imagenet_captions.json`) is one JSON list of
entries `{"filename", "wnid", "title", "description", "tags": [...]}`; images are not included.
Each entry resolves to `<imagenet>/train/<wnid>/<filename>` of a local ImageNet copy
(`imagenet_root` may be the folder holding `train/` or the train folder itself).

Text variants (the paper's caption sweep, spec fang2022.md in the shared specs sec. 3):
- `text="title+tags+description"` (the README's choice) or any combination of the three fields,
  always joined by spaces in the order title, tags, description; tags are joined by spaces,
  newlines and tabs become spaces. An image whose text comes out empty is dropped.
- Several variants (`text=("title", "tags")`) give one caption per variant; training samples one.
- `prefix="a photo of a {}."` puts a class-name template before every caption.
- `class_filter=True` keeps only captions that name the image's class, as a whole word: its
  name or, with `synonyms`, any synonym (WordNet lemmas, e.g. ImageNet's LOC_synset_mapping.txt
  lines `n01440764 tench, Tinca tinca`). The match is case-sensitive by default, as Fang's
  YFCC-15M-Cls (Wen et al.'s re-implementation ignores case: `case_sensitive=False`).

Labels are ImageNet-1k indices (sorted-wnid order), so `teddy bear`, which has no entry in the
release, keeps its index; entries of other wnids (the release has some) are skipped and counted.
The counts at every step are logged, because the released file (448,896 entries of the 1000
classes by a third-party tally) differs from the paper's 463,622.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.formats.class_subsets import imagenet_class_names, imagenet_wnids
from mmcl.data.formats.readers import reader
from mmcl.data.formats.records import Record, RecordSet
from mmcl.errors import MMCLError

log = logging.getLogger(__name__)

TEXT_FIELDS = ("title", "tags", "description")  # the join order of every variant
REQUIRED_FIELDS = ("filename", "wnid")
WHITESPACE = re.compile(r"\s+")


@dataclass
class _Counts:
    """How many entries each step kept or dropped, logged once at the end."""

    entries: int = 0
    other_wnid: int = 0
    empty_text: int = 0
    no_class_name: int = 0
    missing_image: int = 0
    kept: int = 0


def _variants(text: str | Sequence[str]) -> list[tuple[str, ...]]:
    """'title+tags' or ('title', 'tags+description') -> field tuples in TEXT_FIELDS order."""
    specs = [text] if isinstance(text, str) else list(text)
    if not specs:
        raise MMCLError("text: give at least one variant, e.g. 'title+tags+description'")
    variants = []
    for spec in specs:
        fields = [f.strip() for f in spec.split("+") if f.strip()]
        unknown = [f for f in fields if f not in TEXT_FIELDS]
        if unknown or not fields:
            raise MMCLError(
                f"text={spec!r}: fields must be '+'-joined names among {', '.join(TEXT_FIELDS)} "
                "(e.g. 'title+tags+description')"
            )
        variants.append(tuple(f for f in TEXT_FIELDS if f in fields))
    return variants


def _load_entries(json_path: Path) -> list:
    if not json_path.is_file():
        raise MMCLError(f"{json_path}: no such file (the ImageNet-Captions JSON, unzipped)")
    try:
        entries = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MMCLError(f"{json_path}: not valid JSON ({err})") from err
    if not isinstance(entries, list):
        raise MMCLError(
            f"{json_path}: expected a JSON list of entries "
            "{filename, wnid, title, description, tags}, got a JSON "
            f"{type(entries).__name__}"
        )
    return entries


def _check_entry(entry: object, index: int, fields: set[str], json_path: Path) -> dict:
    """The entry when it has the fields this read needs with the right types, else MMCLError."""
    where = f"{json_path}: entry {index}"
    if not isinstance(entry, dict):
        raise MMCLError(f"{where} is a {type(entry).__name__}, expected an object")
    missing = [f for f in (*REQUIRED_FIELDS, *sorted(fields)) if f not in entry]
    if missing:
        raise MMCLError(
            f"{where} lacks field(s) {missing} (entries need filename and wnid, plus the "
            f"text fields read: {sorted(fields)})"
        )
    strings = [*REQUIRED_FIELDS, *(f for f in ("title", "description") if f in fields)]
    for name in strings:
        if not isinstance(entry[name], str):
            raise MMCLError(f"{where}: field {name!r} must be a string, got {entry[name]!r}")
    tags = entry.get("tags")
    if "tags" in fields and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise MMCLError(f"{where}: field 'tags' must be a list of strings, got {tags!r}")
    return entry


def _compose(entry: dict, fields: tuple[str, ...]) -> str:
    """The fields' text joined by spaces, whitespace (newlines, tabs) collapsed."""
    parts = [" ".join(entry["tags"]) if f == "tags" else entry[f] for f in fields]
    return WHITESPACE.sub(" ", " ".join(parts)).strip()


def _read_synonyms(source: str | Path | Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """wnid -> names, from a mapping or a file of lines `wnid name, other name, ...`."""
    if isinstance(source, Mapping):
        return {w: [source[w]] if isinstance(source[w], str) else list(source[w]) for w in source}
    path = Path(source)
    if not path.is_file():
        raise MMCLError(f"synonyms={path}: no such file (lines 'wnid name, other name, ...')")
    table = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        wnid, _, names = line.strip().partition(" ")
        if not re.fullmatch(r"n\d{8}", wnid) or not names.strip():
            raise MMCLError(
                f"{path}:{number}: expected 'wnid name, other name, ...' "
                f"(e.g. 'n01440764 tench, Tinca tinca'), got {line!r}"
            )
        table[wnid] = [n.strip() for n in names.split(",") if n.strip()]
    return table


def _name_patterns(
    synonyms: Mapping[str, list[str]], case_sensitive: bool
) -> dict[str, re.Pattern]:
    """wnid -> regex matching any of its names as a whole word (not inside a longer word)."""
    names = dict(zip(imagenet_wnids(), imagenet_class_names(), strict=True))
    flags = 0 if case_sensitive else re.IGNORECASE
    patterns = {}
    for wnid, name in names.items():
        alternatives = sorted({name, *synonyms.get(wnid, [])}, key=len, reverse=True)
        joined = "|".join(re.escape(a) for a in alternatives)
        patterns[wnid] = re.compile(rf"(?<!\w)(?:{joined})(?!\w)", flags)
    return patterns


def _train_folder(imagenet_root: Path) -> Path:
    if not imagenet_root.is_dir():
        raise MMCLError(
            f"imagenet_root={imagenet_root} is not a folder: give the ImageNet folder that holds "
            "train/<wnid>/<file>.JPEG (or the train folder itself)"
        )
    train = imagenet_root / "train"
    return train if train.is_dir() else imagenet_root


def _missing_check(missing: list[str], total: int, fraction: float, json_path: Path) -> None:
    """Raise when more images are missing than `max_missing_fraction` of the entries allows."""
    if missing and len(missing) > fraction * total:
        shown = ", ".join(missing[:3])
        raise MMCLError(
            f"{json_path}: {len(missing)} of {total} images are missing from the local ImageNet "
            f"(e.g. {shown}); point imagenet_root at the folder holding train/<wnid>/, or "
            f"raise max_missing_fraction (now {fraction:g}) to skip them"
        )


def read_imagenet_captions(
    json_path: str | Path,
    imagenet_root: str | Path,
    text: str | Sequence[str] = "title+tags+description",
    class_filter: bool = False,
    synonyms: str | Path | Mapping[str, Iterable[str]] | None = None,
    case_sensitive: bool = True,
    prefix: str = "",
    check_images: bool = True,
    max_missing_fraction: float = 0.0,
) -> RecordSet:
    """ImageNet-Captions entries joined to a local ImageNet, one `Record` per kept image.

    text: one variant or several (module docstring); prefix: a template with one `{}` for the
    class name put before each caption; class_filter: keep only captions naming the class
    (`synonyms` adds names, `case_sensitive` as in Fang); check_images: stat every image path;
    max_missing_fraction: share of missing images skipped before the read fails (0: none).
    `source` of a record is `<json name>[<entry index>]`.
    """
    json_path, root = Path(json_path), Path(imagenet_root)
    variants = _variants(text)
    if prefix and prefix.count("{}") != 1:
        raise MMCLError(f"prefix={prefix!r} must contain one {{}} for the class name (or be '')")
    if not 0.0 <= max_missing_fraction <= 1.0:
        raise MMCLError(f"max_missing_fraction={max_missing_fraction} must be in [0, 1]")
    train = _train_folder(root)
    entries = _load_entries(json_path)
    wnids, names = imagenet_wnids(), imagenet_class_names()
    label_of = {w: i for i, w in enumerate(wnids)}
    patterns = _name_patterns(_read_synonyms(synonyms or {}), case_sensitive)
    fields = {f for v in variants for f in v}
    counts, records, missing = _Counts(entries=len(entries)), [], []
    for index, raw in enumerate(entries):
        entry = _check_entry(raw, index, fields, json_path)
        wnid = entry["wnid"]
        if wnid not in label_of:
            counts.other_wnid += 1
            continue
        captions = [c for c in (_compose(entry, v) for v in variants) if c]
        if not captions:
            counts.empty_text += 1
            continue
        if class_filter:
            captions = [c for c in captions if patterns[wnid].search(c)]
            if not captions:
                counts.no_class_name += 1
                continue
        image = train / wnid / entry["filename"]
        if check_images and not image.is_file():
            missing.append(str(image))
            continue
        label = label_of[wnid]
        if prefix:
            captions = [f"{prefix.format(names[label])} {c}" for c in captions]
        records.append(Record(str(image), tuple(captions), label, f"{json_path.name}[{index}]"))
    counts.missing_image, counts.kept = len(missing), len(records)
    _missing_check(missing, len(records) + len(missing), max_missing_fraction, json_path)
    log.info("imagenet_captions %s: %s", json_path, counts)
    if not records:
        raise MMCLError(
            f"{json_path}: no entry left after reading ({counts}); check text={text!r} and "
            "class_filter"
        )
    return RecordSet(records, list(names), name=str(json_path))


@dataclass(frozen=True)
class ImageNetCaptionsOptions:
    """`data.imagenet_captions.*`."""

    imagenet_root: str = ""  # local ImageNet (holding train/<wnid>/)
    # text variants: title | tags | description joined by "+", several variants by ","
    captions_text: str = "title+tags+description"
    caption_class_filter: bool = False  # keep only captions naming the class

    def validate(self) -> None:
        variants = [v.strip() for v in self.captions_text.split(",") if v.strip()]
        try:
            _variants(variants)
        except MMCLError as error:
            raise MMCLError(f"config key 'data.imagenet_captions.captions_text': {error}") from None


@reader("imagenet_captions", options=ImageNetCaptionsOptions)
def read_imagenet_captions_format(path: Path, options: ImageNetCaptionsOptions) -> RecordSet:
    """`data.format=imagenet_captions`: data.path is the JSON, `imagenet_root` the images."""
    if not options.imagenet_root:
        raise MMCLError(
            f"data.format=imagenet_captions reads {path}, whose entries point into a local "
            "ImageNet: set data.imagenet_captions.imagenet_root (the folder holding train/)"
        )
    variants = [v.strip() for v in options.captions_text.split(",") if v.strip()]
    return read_imagenet_captions(
        path,
        options.imagenet_root,
        text=variants[0] if len(variants) == 1 else variants,
        class_filter=options.caption_class_filter,
    )
