"""webdataset tar shards: brace-expanded shard lists, sample grouping, counting, reading.

A shard is a plain tar whose members `<key>.<ext>` sharing a key form one sample (webdataset's
convention): an image (`jpg`, `jpeg`, `png`, `webp`) plus a caption (`txt`, or `json` with
"caption"/"captions"/"text") and optionally a class (`cls`, or json "label"). Plain `tarfile`
is used rather than the `webdataset` pipeline because resuming exactly and splitting per rank
need control over the order in which every sample is read.

`scan_shard` reads only the tar headers and `iter_samples` the whole stream. A sample without
an image is one `BadEvent`. A shard that ends early is refused whole (`TruncatedShard`, named
with its fix) by both, and so by `data check` and training alike: its lost samples cannot be
counted, and a run that skipped it would train on a dataset other than the one given. A
compressed shard (`.tar.gz`) is refused by `shard_paths` for the same reason: counting and
resuming read plain tar offsets.

Remote shards (`pipe:COMMAND`, `http(s)://`, and the other schemes of webdataset's `gopen`)
are streamed through webdataset's opener; their sample counts come from a `sizes.json` beside
them (`{"shard-000.tar": 1000, ...}`, webdataset's convention) or from
`data.webdataset.shard_samples`, since counting would mean downloading every shard first.

The format's own options are `data.webdataset.*` (`WebdatasetOptions`); what it reads is a
`ShardSet`, the counted shards, one of the training source kinds beside `RecordSet`.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmcl.config import check_range
from mmcl.data.formats.bad_data import BadEvent, BadSample
from mmcl.data.formats.readers import reader
from mmcl.errors import MMCLError

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
CAPTION_EXTS = ("txt", "json")
# Compressed tar files, by their leading bytes and their name's suffix: (compression, the
# command that restores the plain .tar).
COMPRESSIONS = {
    b"\x1f\x8b": ("gzip", "gunzip"),
    b"BZh": ("bzip2", "bunzip2"),
    b"\xfd7zXZ\x00": ("xz", "unxz"),
    b"\x28\xb5\x2f\xfd": ("zstd", "unzstd"),
}
COMPRESSED_SUFFIXES = {
    ".gz": COMPRESSIONS[b"\x1f\x8b"],
    ".tgz": COMPRESSIONS[b"\x1f\x8b"],
    ".bz2": COMPRESSIONS[b"BZh"],
    ".xz": COMPRESSIONS[b"\xfd7zXZ\x00"],
    ".zst": COMPRESSIONS[b"\x28\xb5\x2f\xfd"],
}
REMOTE_SCHEMES = ("pipe:", "http://", "https://", "s3://", "gs://", "ais://", "hf://")
SIZES_FILE = "sizes.json"
CAPTION_JSON_KEYS = ("caption", "captions", "text")
LOOKED_FOR = 'a .txt member, or a .json member with "caption", "captions" or "text"'
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


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_SCHEMES)


def shard_paths(spec: str) -> list[str]:
    """Shards of `spec` (brace patterns, several joined by `::`); local ones must exist and
    none may be compressed."""
    paths = [p for part in spec.split("::") for p in expand_braces(part.strip())]
    if len(paths) == 1 and Path(paths[0]).is_dir():
        folder = Path(paths[0])
        paths = sorted(str(p) for p in folder.glob("*.tar"))
        paths = paths or sorted(str(p) for p in folder.iterdir() if _compression(str(p)))
    missing = [p for p in paths if not is_remote(p) and not Path(p).is_file()]
    if missing or not paths:
        raise MMCLError(
            f"data.path={spec}: shard(s) not found: {missing[:3] or 'no .tar files'}; expected "
            "tar files such as shards-{000..009}.tar"
        )
    _refuse_compressed(paths)
    return paths


def _compression(path: str) -> tuple[str, str] | None:
    """(compression, how to undo it) for a compressed file (by its bytes, or a remote one's
    name), None for anything else."""
    if is_remote(path) or not Path(path).is_file():
        return COMPRESSED_SUFFIXES.get(Path(path.split("?")[0]).suffix.lower())
    with open(path, "rb") as handle:
        start = handle.read(8)
    return next((found for magic, found in COMPRESSIONS.items() if start.startswith(magic)), None)


def _refuse_compressed(paths: list[str]) -> None:
    """One MMCLError naming the compressed shards and the command that makes them plain tar."""
    compressed = [(p, found) for p in paths if (found := _compression(p))]
    if not compressed:
        return
    (first, (kind, command)), more = compressed[0], len(compressed) - 1
    others = f" (and {more} more)" if more else ""
    raise MMCLError(
        f"shard {first}{others} is {kind}-compressed; mmcl reads plain .tar shards (their "
        f"sample counts and resume positions are tar offsets): decompress it: "
        f"{command} -c {first} > {_plain_name(first)}"
    )


def _plain_name(path: str) -> str:
    """Where a compressed shard's plain tar goes: `a.tar.gz`/`a.tgz` -> `a.tar`."""
    folder, name = os.path.split(path)
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in COMPRESSED_SUFFIXES:
        name = stem if stem.lower().endswith(".tar") else f"{stem}.tar"
    else:
        name = f"{stem}-plain.tar"
    return os.path.join(folder, name)


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

    def no_caption(self) -> str:
        """Why this sample has no caption: what was looked for, and what it has."""
        has = ", ".join(f".{ext}" for ext in sorted(self.files))
        return f"no caption: looked for {LOOKED_FOR}; the sample has {has}"

    def label(self) -> int:
        """The class from cls or json "label" (-1 without either); `BadSample` naming the
        member and the fix when it is not a class index (an integer from 0)."""
        if "cls" in self.files:
            text = self.files["cls"].decode("ascii", errors="replace").strip()
            try:
                return _class_index(int(text), f"cls member {text[:20]!r}")
            except ValueError:
                raise BadSample(
                    f"cls member {text[:20]!r} is not a class index: write the class's "
                    "number (0, 1, ...) in .cls"
                ) from None
        meta = self.meta()
        if "label" not in meta:
            return -1
        value = meta["label"]
        shown = json.dumps(value)[:20]
        if isinstance(value, str):
            raise BadSample(
                f'json "label" is {shown}, text: shards carry no class list to map text to '
                'class numbers; write the number, {"label": 3}, or a .cls member holding it'
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadSample(f'json "label" is {shown}, expected a class index (0, 1, ...)')
        return _class_index(value, f'json "label" {shown}')


def _class_index(value: int, what: str) -> int:
    if value < 0:
        raise BadSample(f"{what} is negative: classes are numbered from 0")
    return value


def _has_image(exts: set[str]) -> bool:
    return any(ext in exts for ext in IMAGE_EXTS)


def _is_truncation(error: tarfile.ReadError) -> bool:
    """Whether tarfile's error means the file ends early (rather than is not a tar at all)."""
    return str(error) in ("empty file", "truncated header", "unexpected end of data")


class TruncatedShard(MMCLError):
    """A shard that ends early, refused whole by `data check` and training alike. Built by
    `truncated`; its one argument is the message, so that a DataLoader worker can re-raise it."""

    path: str = ""
    detail: str = ""  # where it ends, and how many samples were whole before


def truncated(path: str, why: str, complete: int) -> TruncatedShard:
    detail = f"{why}, after {complete} complete samples"
    error = TruncatedShard(
        f"shard {path} is truncated ({detail}): re-download or rewrite it, or leave it out of "
        "data.path"
    )
    error.path, error.detail = path, detail
    return error


def _unreadable(path: str, error: Exception, complete: int) -> MMCLError:
    """The error for a tar that cannot be read on: truncated, or not a tar at all."""
    if isinstance(error, EOFError) or _is_truncation(error):
        return truncated(path, str(error) or "unexpected end of file", complete)
    return MMCLError(f"{path} is not a readable tar file ({error}); rewrite it as a plain tar")


@dataclass(frozen=True)
class ShardScan:
    """What a shard's tar headers tell: samples (keys with an image), and how many of them
    have a caption member (.txt or .json; a .json may still hold no caption)."""

    samples: int
    captioned: int


def scan_shard(path: str) -> ShardScan:
    """The samples `iter_samples` will yield, from tar headers only; `TruncatedShard` when the
    file ends early (inside a member, a header, or before the end-of-archive marker)."""
    size, key, exts, data_end = os.path.getsize(path), None, set(), 0
    samples = captioned = 0

    def close(exts: set[str]) -> None:
        nonlocal samples, captioned
        samples += _has_image(exts)
        captioned += _has_image(exts) and any(ext in exts for ext in CAPTION_EXTS)

    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name_key, ext = split_name(member.name)
                if name_key != key:
                    close(exts)
                    key, exts = name_key, set()
                if member.offset_data + member.size > size:
                    raise truncated(path, f"cut inside {member.name}", samples)
                exts.add(ext)
                data_end = member.offset_data + member.size
    except tarfile.ReadError as error:
        raise _unreadable(path, error, samples) from None
    if _missing_end_marker(path, data_end):
        raise truncated(path, "no end-of-archive marker", samples)
    close(exts)
    return ShardScan(samples, captioned)


def count_samples(path: str) -> int:
    """Samples (keys with an image) that `iter_samples` will yield, from tar headers only."""
    return scan_shard(path).samples


def _missing_end_marker(path: str, data_end: int) -> bool:
    """A tar ends with two zero blocks after its last member; a file cut inside a header or
    before that marker reads as a shorter valid archive, and only this check tells."""
    padded = -(-data_end // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return os.path.getsize(path) < padded + 2 * tarfile.BLOCKSIZE


def _location(path: str) -> str:
    """Where a shard lives: the URL, or for `pipe:` the command's last word (`curl ... URL`)."""
    return path.removeprefix("pipe:").split()[-1] if path.startswith("pipe:") else path


def _read_text(location: str) -> str | None:
    """A small file by local path or URL, or None when it cannot be read."""
    try:
        if is_remote(location):
            import webdataset

            with webdataset.gopen(location, "rb") as stream:
                return stream.read().decode("utf-8")
        return Path(location).read_text(encoding="utf-8")
    except Exception:  # absent or unreachable: the caller falls back to shard_samples
        return None


def remote_counts(paths: list[str], per_shard: int = 0) -> list[int]:
    """Sample counts of remote shards, from the sizes.json beside each (read once per folder)
    or `per_shard`; an MMCLError naming both ways when neither gives a count."""
    tables: dict[str, dict] = {}
    counts = []
    for path in paths:
        folder, name = _location(path).rsplit("/", 1) if "/" in _location(path) else (".", path)
        if folder not in tables:
            text = _read_text(f"{folder}/{SIZES_FILE}")
            try:
                tables[folder] = json.loads(text) if text else {}
            except json.JSONDecodeError:
                raise MMCLError(f"{folder}/{SIZES_FILE} is not valid JSON") from None
        count = tables[folder].get(name, per_shard)
        if not isinstance(count, int) or count <= 0:
            raise MMCLError(
                f"shard {path}: no sample count; put a {SIZES_FILE} beside the shards "
                f'({{"{name}": N, ...}}) or set data.webdataset.shard_samples=N'
            )
        counts.append(count)
    return counts


def _open_stream(path: str):
    if is_remote(path):
        import webdataset

        return webdataset.gopen(path, "rb")
    return open(path, "rb")  # noqa: SIM115 (closed by the caller)


def iter_samples(path: str) -> Iterator[RawSample | BadEvent]:
    """Stream a shard's samples in order; a group without an image comes as a `BadEvent`, a
    shard that ends early raises `TruncatedShard` (as `scan_shard` does)."""
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
        with _open_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
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
        raise _unreadable(path, error, position) from None
    except OSError as error:  # a pipe command or download that failed
        raise MMCLError(f"shard {path} cannot be read: {error}") from None
    if not is_remote(path) and _missing_end_marker(path, data_end):
        raise truncated(path, "no end-of-archive marker", position)
    yield from finish(current)


@dataclass(frozen=True)
class Shard:
    path: str
    n_samples: int
    offset: int  # global index of its first sample: Batch.index = offset + position
    captioned: int = -1  # samples with a caption member (.txt/.json); -1 = unknown (remote)


def index_shards(paths: list[str], per_shard: int = 0) -> list[Shard]:
    """Count every shard's samples and number samples globally: local shards by their tar
    headers, remote ones by their sizes.json (or `per_shard`). Truncated local shards are
    refused, all of them named in one error."""
    remote = [p for p in paths if is_remote(p)]
    counts = dict(zip(remote, remote_counts(remote, per_shard), strict=True)) if remote else {}
    scans, truncated = {}, []
    for path in paths:
        try:
            scans[path] = ShardScan(counts[path], -1) if path in counts else scan_shard(path)
        except TruncatedShard as error:
            truncated.append(error)
    _refuse_truncated(truncated)
    shards, offset = [], 0
    for path in paths:
        shards.append(Shard(path, scans[path].samples, offset, scans[path].captioned))
        offset += scans[path].samples
    if offset == 0:
        raise MMCLError(f"no samples with an image found in {len(paths)} shard(s): {paths[:3]}")
    return shards


def _refuse_truncated(truncated: list[TruncatedShard]) -> None:
    """One error naming every truncated shard (the first few in detail) and the fix."""
    if len(truncated) == 1:
        raise truncated[0]
    if truncated:
        named = "; ".join(f"{e.path} ({e.detail})" for e in truncated[:3])
        more = f"; and {len(truncated) - 3} more" if len(truncated) > 3 else ""
        raise MMCLError(
            f"{len(truncated)} shards are truncated: {named}{more}: re-download or rewrite "
            "them, or leave them out of data.path"
        )


@dataclass(frozen=True)
class WebdatasetOptions:
    """`data.webdataset.*`."""

    shuffle_buffer: int = 1000  # samples held for shuffling, per worker
    shard_samples: int = 0  # samples per remote shard when no sizes.json lies beside them

    def validate(self) -> None:
        check_range("data.webdataset.shuffle_buffer", self.shuffle_buffer, 1)
        check_range("data.webdataset.shard_samples", self.shard_samples, 0)


@dataclass
class ShardSet:
    """The shards of `data.path`, counted, and the options they were read with: a training
    source (as a `RecordSet` is), streamed by `ShardStream`.

    Shards carry class numbers but no class list, so they name no classes.
    """

    shards: list[Shard]
    options: WebdatasetOptions = field(default_factory=WebdatasetOptions)

    def __len__(self) -> int:
        return len(self.shards)

    def __iter__(self) -> Iterator[Shard]:
        return iter(self.shards)

    def __getitem__(self, index: int) -> Shard:
        return self.shards[index]

    @property
    def n_samples(self) -> int:
        return sum(shard.n_samples for shard in self.shards)

    @property
    def class_names(self) -> list[str]:
        return []

    @property
    def description(self) -> str:
        return "data.format=webdataset"

    def image_size_for(self, configured: int) -> int:
        """Images in shards are resized to `data.image_size`."""
        return configured

    def first_bad(self) -> str:
        """Shards are judged sample by sample as they stream: nothing is known bad up front."""
        return ""

    def missing_captions(self) -> str:
        """Why a method that trains on captions cannot train on these ("" when it can)."""
        if any(shard.captioned != 0 for shard in self.shards):
            return ""
        paths = ", ".join(s.path for s in self.shards[:3]) + (" ..." if len(self) > 3 else "")
        return (
            f"no sample of {paths} has a caption (looked for {LOOKED_FOR}); write captions into "
            "the shards, or train an image-only method (method.name=simclr)"
        )

    def visit(self, visitor: Any) -> Any:
        """`visitor.shards(self)`: what the visitor makes of shards (see `RecordSet.visit`)."""
        return visitor.shards(self)


@reader("webdataset", options=WebdatasetOptions, stream=True)
def read_shards(spec: str, options: WebdatasetOptions) -> ShardSet:
    """The shards of `spec` (brace patterns, `::` lists, URLs), every one counted."""
    return ShardSet(index_shards(shard_paths(spec), options.shard_samples), options)
