"""Atomic file writes: a reader never sees a half-written checkpoint, result or report; and the
checks of a command's output paths, made before it computes anything."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from mmcl.errors import MMCLError


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; results and caches are shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def output_folder(path: str | Path, flag: str, writable: bool = True) -> Path:
    """`path` as a folder a command may write into, checked before any compute.

    Refused (an MMCLError naming `flag`, the path and the fix) when it is empty, is a file, or
    lies under a file; with `writable`, also when the folder it would be made in is read-only.
    A bad --out then costs nothing and leaves nothing half-written.
    """
    path, existing = _resolve(path, flag, "folder")
    if existing == path and not path.is_dir():
        raise MMCLError(f"{flag} {path} is a file, not a folder: give a folder path")
    if writable:
        _check_writable(existing, path, flag)
    return path


def output_file(path: str | Path, flag: str, example: str) -> Path:
    """`path` as a file a command may write (replacing it atomically), checked before compute.

    Refused when it is empty, is a folder (the message suggests `path/example`), lies under a
    file, or its folder is read-only.
    """
    path, existing = _resolve(path, flag, "file")
    if existing == path and path.is_dir():
        raise MMCLError(f"{flag} {path} is a folder: give a file path, e.g. {path / example}")
    _check_writable(path.parent if existing == path else existing, path, flag)
    return path


def _resolve(text: str | Path, flag: str, kind: str) -> tuple[Path, Path]:
    """The path and its nearest existing self-or-ancestor, which must be a folder unless it is
    the path itself (`a/file/b` cannot be made while `a/file` is a file)."""
    if not str(text).strip():
        raise MMCLError(f"{flag} is empty: give a {kind} path")
    path = Path(text)
    existing = _nearest_existing(path, flag)
    if existing != path and not existing.is_dir():
        raise MMCLError(
            f"{flag} {path}: {existing} is a file, so nothing can be made under it; "
            "choose a path outside it"
        )
    return path, existing


def _nearest_existing(path: Path, flag: str) -> Path:
    """`path` or its closest ancestor that exists ('.' for a relative path always does)."""
    for candidate in (path, *path.parents):
        try:
            candidate.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError) as error:  # too long, a loop of links, a NUL byte
            reason = getattr(error, "strerror", None) or str(error)
            raise MMCLError(f"{flag} {path}: {reason}; choose another path") from None
        return candidate
    return Path(".")


def _check_writable(folder: Path, path: Path, flag: str) -> None:
    """New entries go into `folder`: refuse a read-only mount or a folder without permission."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MMCLError(
            f"{flag} {path}: cannot write in {folder} (read-only or no permission); "
            "choose a writable place"
        )
