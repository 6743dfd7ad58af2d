"""webdataset tar shards: brace-expanded shard lists, sample grouping, counting, reading.

A shard is a plain tar whose members `<key>.<ext>` sharing a key form one sample (webdataset's
convention): an image (`jpg`, `jpeg`, `png`, `webp`) plus a caption (`txt`, or `json` with
"caption"/"captions"/"text") and optionally a class (`cls`, or json "label"). Plain `tarfile`
is used rather than the `webdataset` pipeline because resuming exactly and splitting per rank
need control over the order in which every sample is read.

`count_samples` reads only the tar headers and `iter_samples` the whole stream; both stop at
the same place in a truncated shard, so the count of a shard is exactly what streaming it
yields. A truncated shard or a sample without an image is reported as one `BadEvent`.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mmcl.data.formats.bad_data import BadEvent, BadSample
from mmcl.errors import MMCLError

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
CAPTION_JSON_KEYS = ("caption", "captions", "text")
_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")


def expand_braces(pattern: str) -> list[str]:
    """`a-{000..002}.tar` -> a-000.tar, a-001.tar, a-002.tar; `{x,y}` lists; nesting works."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, body, tail = pattern[: match.start()], match.group(1), pattern[match.end() :]
    numeric = _RANGE.fullmatch(match.group(0))
    if numeric:
        lo, hi = numeric.groups()
        options = [str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)]
    else:
        options = body.split(",")
    return [out for option in options for out in expand_braces(head + option + tail)]


def shard_paths(spec: str) -> list[str]:
    """Shard files of `spec` (brace patterns, several joined by `::`); all must exist."""
    paths = [p for part in spec.split("::") for p in expand_braces(part.strip())]
    if len(paths) == 1 and Path(paths[0]).is_dir():
        paths = sorted(str(p) for p in Path(paths[0]).glob("*.tar"))
    missing = [p for p in paths if not Path(p).is_file()]
    if missing or not paths:
        raise MMCLError(
            f"data.path={spec}: shard(s) not found: {missing[:3] or 'no .tar files'}; expected "
            "tar files such as shards-{000..009}.tar"
        )
    return paths


def split_name(name: str) -> tuple[str, str]:
    """`dir/0001.seg.jpg` -> key `dir/0001`, extension `seg.jpg` (webdataset's rule)."""
    folder, base = os.path.split(name)
    stem, _, ext = base.partition(".")
    return os.path.join(folder, stem), ext.lower()


@dataclass
class RawSample:
    """One sample's undecoded members, and where it came from."""

    key: str
    source: str  # shard:key
    files: dict[str, bytes] = field(default_factory=dict)
    position: int = 0  # index of the sample within its shard

    def image_bytes(self) -> bytes:
        return next(self.files[ext] for ext in IMAGE_EXTS if ext in self.files)

    def captions(self) -> tuple[str, ...]:
        """Caption(s) from txt or json; raises `BadSample` on non-UTF-8 bytes or bad JSON."""
        try:
            if "txt" in self.files:
                return (self.files["txt"].decode("utf-8"),)
            if "json" in self.files:
                meta = json.loads(self.files["json"].decode("utf-8"))
                value = next((meta[k] for k in CAPTION_JSON_KEYS if k in meta), "")
                return tuple(value) if isinstance(value, list) else (str(value),)
        except UnicodeDecodeError:
            raise BadSample("caption is not valid UTF-8") from None
        except (json.JSONDecodeError, TypeError) as error:
            raise BadSample(f"json member cannot be read ({error})") from None
        return ()

    def label(self) -> int:
        if "cls" in self.files:
            return int(self.files["cls"].decode("ascii").strip())
        if "json" in self.files:
            return int(json.loads(self.files["json"]).get("label", -1))
        return -1


def _has_image(exts: set[str]) -> bool:
    return any(ext in exts for ext in IMAGE_EXTS)


def count_samples(path: str) -> int:
    """Samples (keys with an image) that `iter_samples` will yield, from tar headers only."""
    size, count, key, exts = os.path.getsize(path), 0, None, set()
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name_key, ext = split_name(member.name)
                if member.offset_data + member.size > size:  # truncated inside this member:
                    return count + (name_key != key and _has_image(exts))  # its sample is lost
                if name_key != key:
                    count += _has_image(exts)
                    key, exts = name_key, set()
                exts.add(ext)
    except tarfile.ReadError as error:
        raise MMCLError(f"{path} is not a readable tar file ({error})") from None
    return count + _has_image(exts)


def _missing_end_marker(path: str, data_end: int) -> bool:
    """A tar ends with two zero blocks after its last member; a file cut inside a header or
    before that marker reads as a shorter valid archive, and only this check tells."""
    padded = -(-data_end // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return os.path.getsize(path) < padded + 2 * tarfile.BLOCKSIZE


def iter_samples(path: str) -> Iterator[RawSample | BadEvent]:
    """Stream a shard's samples in order; bad groups and truncation come as `BadEvent`s."""
    name = Path(path).name
    current: RawSample | None = None
    position, data_end = 0, 0

    def finish(sample: RawSample | None) -> Iterator[RawSample | BadEvent]:
        nonlocal position
        if sample is None:
            return
        if _has_image(set(sample.files)):
            sample.position = position
            position += 1
            yield sample
        else:
            kinds = "/".join(IMAGE_EXTS)
            yield BadEvent(sample.source, f"no image member (expected .{kinds})")

    try:
        with tarfile.open(path, "r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = split_name(member.name)
                if current is None or key != current.key:
                    yield from finish(current)
                    current = RawSample(key, f"{name}:{key}")
                current.files[ext] = tar.extractfile(member).read()
                data_end = member.offset_data + member.size
    except (tarfile.ReadError, EOFError) as error:
        where = current.source if current is not None else f"{name}:<start>"
        yield BadEvent(where, f"shard is truncated ({error}); the rest of it is skipped")
        return
    yield from finish(current)
    if _missing_end_marker(path, data_end):
        where = current.source if current is not None else f"{name}:<start>"
        yield BadEvent(where, "shard is truncated (no end-of-archive marker after this sample)")
