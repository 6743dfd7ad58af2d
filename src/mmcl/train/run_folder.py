"""A run folder that protects itself: one `mmcl train` at a time, no stale temporary files,
and no finished run replaced without the user's word.

The lock is a POSIX record lock (`fcntl.lockf`) on `RUN_FOLDER/.mmcl.lock`, which also holds
who took it (pid, host, start time, command). The kernel drops such a lock when its process
dies, SIGKILL included, and forked children (data-loader workers) do not inherit it, so a lock
file that still names a holder but can be locked is a stale one from a killed run: it is taken
over with a warning. Only rank 0 of a torchrun job (or the single process) locks: the other
ranks write nothing into the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mmcl.errors import MMCLError

log = logging.getLogger(__name__)

LOCK_NAME = ".mmcl.lock"
# What training and scoring write into a run folder; anything else in it is not the run's.
TRAINED = "trained.json"  # the door's marker of a finished training (`mmcl.runs.door`)
RUN_FILES = ("metrics.jsonl", "results.json", "checkpoint_results.json", "report.html", TRAINED)
RUN_FOLDERS = ("checkpoints", "features", "tensorboard", "stage_*")
_held: dict[Path, tuple[int, int]] = {}  # resolved run folder -> (lock fd, nesting depth)


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def locked_run_folder(run_dir: Path) -> Iterator[None]:
    """Create `run_dir` and hold its lock for the block; re-entrant within one process.

    A second `mmcl train` into the same folder stops at once with an `MMCLError` naming the
    running one. Taking the lock also removes temporary files that a killed run left behind.
    """
    if not _is_rank0():
        yield
        return
    key = _make_run_folder(run_dir).resolve()
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
    else:
        _held[key] = (_acquire(run_dir), 1)
        remove_stale_temporaries(run_dir)
    try:
        yield
    finally:
        fd, depth = _held.pop(key)
        if depth > 1:
            _held[key] = (fd, depth - 1)
        else:
            _release(fd)


def _make_run_folder(run_dir: Path) -> Path:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # out_dir is a file, a read-only mount, no permission
        blocker = _file_in_the_way(run_dir)
        reason = f"{blocker} is a file" if blocker else error.strerror or str(error)
        raise MMCLError(
            f"cannot create the run folder {run_dir}: {reason}; set out_dir to a writable folder"
        ) from None
    return run_dir


def _file_in_the_way(run_dir: Path) -> Path | None:
    """The nearest existing path at or above `run_dir` when it is not a folder."""
    for path in (run_dir, *run_dir.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def _acquire(run_dir: Path) -> int:
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise MMCLError(
            f"cannot write the lock file {path}: {error.strerror or error}; "
            f"the run folder must be writable (set out_dir to a writable folder)"
        ) from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read_holder(fd)
        os.close(fd)
        raise MMCLError(
            f"{run_dir} is in use by another mmcl train ({_describe(holder)}); wait for it to "
            f"finish, or train into another folder (name=... or out_dir=...)"
        ) from None
    previous = _read_holder(fd)
    if previous:
        log.warning(
            "%s: taking over the stale lock of a run that is no longer running (%s)",
            run_dir,
            _describe(previous),
        )
    _write_holder(fd)
    return fd


def _release(fd: int) -> None:
    """Clear the holder and unlock; the file stays (deleting it would race a new locker)."""
    os.ftruncate(fd, 0)
    fcntl.lockf(fd, fcntl.LOCK_UN)
    os.close(fd)


def _read_holder(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 65536).decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {"pid": "?", "note": text[:80]}
    return holder if isinstance(holder, dict) else {}


def _write_holder(fd: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": _command_line(),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(holder) + "\n").encode("utf-8"))
    os.fsync(fd)


def _command_line() -> str:
    """This process's command, `mmcl ...` for `python -m mmcl` (and torchrun -m mmcl)."""
    if sys.argv and Path(sys.argv[0]).name in ("__main__.py", "mmcl"):
        return " ".join(["mmcl", *sys.argv[1:]])
    return " ".join(sys.argv)


def _describe(holder: dict) -> str:
    if not holder:
        return "holder unknown"
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts.append(f"on {holder['host']}")
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    if holder.get("command"):
        parts.append(f"running `{holder['command']}`")
    return " ".join(parts)


def run_outputs(run_dir: Path) -> list[Path]:
    """The files and folders of a run that `run_dir` holds (none for a new folder)."""
    found = [run_dir / name for name in RUN_FILES if (run_dir / name).is_file()]
    for pattern in RUN_FOLDERS:
        found += sorted(p for p in run_dir.glob(pattern) if p.is_dir())
    return found


def claim_for_new_run(run_dir: Path, overwrite: bool) -> None:
    """Make `run_dir` ready for a run from step 0: refuse one that holds a run, unless the
    user said `--overwrite`, in which case the old run's outputs (and only they) go.

    Called with the folder's lock held. A resume never comes here: it continues the run.
    Every rank of a torchrun job looks (so all refuse together); only rank 0 removes.
    """
    found = run_outputs(run_dir)
    if not found:
        return
    if not overwrite:
        raise MMCLError(
            f"{run_dir} already holds a run ({_names(found[:4])}); continue it with mmcl train "
            f"--resume {run_dir}, train into another folder (name=...), or replace it with "
            "--overwrite"
        )
    if not _is_rank0():
        return
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    log.warning("--overwrite: removed the previous run's %s in %s", _names(found), run_dir)


def _names(paths: list[Path]) -> str:
    return ", ".join(p.name for p in paths)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the `.NAME.<random>.tmp` files of writes a killed run left (`mmcl.io.atomic_write`).

    Only the run's own: temporaries of the run's files beside `config.yaml`, and any inside
    the run's folders (checkpoints, stages, features); a stranger's `.x.tmp` is left alone.
    Only safe while holding the folder's lock: a running writer's temporary looks the same.
    """
    own = {"config.yaml", *RUN_FILES}
    stale = [p for p in run_dir.glob(".*.tmp") if p.is_file() and _target(p) in own]
    for pattern in RUN_FOLDERS:
        for folder in run_dir.glob(pattern):
            stale += [p for p in folder.rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d temporary file(s) left by a killed run in %s", len(stale), run_dir)
    return stale


def _target(temporary: Path) -> str:
    """The file a temporary `.NAME.<random>.tmp` was going to become: NAME."""
    return temporary.name[1:].rsplit(".", 2)[0]
