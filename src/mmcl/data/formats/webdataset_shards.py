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

    def meta(self) -> dict:
        """The json member as an object ({} without one); raises `BadSample` naming the flaw."""
        if "json" not in self.files:
            return {}
        try:
            meta = json.loads(self.files["json"].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadSample("json member is not valid UTF-8") from None
        except json.JSONDecodeError as error:
            raise BadSample(f"json member cannot be read ({error})") from None
        if not isinstance(meta, dict):
            kind = "null" if meta is None else type(meta).__name__
            raise BadSample(f'json member is a {kind}, not an object ({{"caption": ...}})')
        return meta

    def captions(self) -> tuple[str, ...]:
        """Caption(s) from txt or json; raises `BadSample` on non-UTF-8 bytes or bad JSON."""
        if "txt" in self.files:
            try:
                return (self.files["txt"].decode("utf-8"),)
            except UnicodeDecodeError:
                raise BadSample("caption is not valid UTF-8") from None
        meta = self.meta()
        value = next((meta[k] for k in CAPTION_JSON_KEYS if k in meta), None)
        if value is None:
            return ()
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise BadSample(f"json caption is {value!r}, expected text or a list of texts")
        return tuple(values)

    def label(self) -> int:
        """The class from cls or json "label" (-1 without either); `BadSample` if not an int."""
        if "cls" in self.files:
            text = self.files["cls"].decode("ascii", errors="replace").strip()
            try:
                return int(text)
            except ValueError:
                raise BadSample(f"cls member {text[:20]!r} is not an integer class") from None
        meta = self.meta()
        if "label" not in meta:
            return -1
        value = meta["label"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadSample(f"json 'label' is {json.dumps(value)[:20]}, expected an integer class")
        return value


def _has_image(exts: set[str]) -> bool:
    return any(ext in exts for ext in IMAGE_EXTS)


def _is_truncation(error: tarfile.ReadError) -> bool:
    """Whether tarfile's error means the file ends early (rather than is not a tar at all)."""
    return str(error) in ("empty file", "truncated header", "unexpected end of data")


def count_samples(path: str) -> int:
    """Samples (keys with an image) that `iter_samples` will yield, from tar headers only.

    In a truncated shard the sample being read where the file ends is lost (it may miss its
    caption or class), so it is not counted; `iter_samples` reports it instead.
    """
    size, count, key, exts, data_end = os.path.getsize(path), 0, None, set(), 0
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name_key, ext = split_name(member.name)
                if name_key != key:
                    count += _has_image(exts)
                    key, exts = name_key, set()
                if member.offset_data + member.size > size:  # truncated inside this member
                    return count
                exts.add(ext)
                data_end = member.offset_data + member.size
    except tarfile.ReadError as error:
        if not _is_truncation(error):
            raise MMCLError(f"{path} is not a readable tar file ({error})") from None
        return count  # cut inside a header
    return count if _missing_end_marker(path, data_end) else count + _has_image(exts)


def _missing_end_marker(path: str, data_end: int) -> bool:
    """A tar ends with two zero blocks after its last member; a file cut inside a header or
    before that marker reads as a shorter valid archive, and only this check tells."""
    padded = -(-data_end // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return os.path.getsize(path) < padded + 2 * tarfile.BLOCKSIZE


def iter_samples(path: str) -> Iterator[RawSample | BadEvent]:
    """Stream a shard's samples in order; bad groups and truncation come as `BadEvent`s.

    Where a truncated shard ends, the sample being read is reported as truncated rather than
    yielded: its caption or class may be what was cut off.
    """
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

    def truncated(why: str) -> BadEvent:
        where = current.source if current is not None else f"{name}:<start>"
        return BadEvent(where, f"shard is truncated ({why}); this sample and the rest are lost")

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
        yield truncated(str(error))
        return
    if _missing_end_marker(path, data_end):
        yield truncated("no end-of-archive marker")
        return
    yield from finish(current)
