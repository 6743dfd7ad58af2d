"""Atomic checkpoints with a `latest` pointer, holding everything a resume needs.

A checkpoint is written to a temporary file and renamed into place, and the pointer is updated
only after that, so a kill at any moment (SIGKILL included) leaves the previous checkpoint
intact and `latest` naming a complete file. Ctrl-C during a write lets the write finish first.
A resume takes `latest` and falls back to the newest readable `step_*.pt` when `latest` is
missing or names a missing or corrupt file (a truncated copy, a disk that filled up).

A checkpoint holds tensors and plain Python types only (format 2: the NumPy RNG state is
stored as a tensor), so it is read with `torch.load(weights_only=True)` and a planted file
cannot run code (`mmcl.tensor_files`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmcl.errors import MMCLError
from mmcl.io import atomic_write, atomic_write_text
from mmcl.tensor_files import read_tensor_file

log = logging.getLogger(__name__)

LATEST = "latest"
FORMAT = 2  # 2: plain types only (the NumPy RNG state as a tensor); 1 (no key): NumPy arrays


@dataclass
class TrainState:
    """Where training stands: the sampler position and RNG states make a resume exact."""

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already consumed
    samples_seen: int = 0
    train_seconds: float = 0.0  # wall time in the training loop, evaluation excluded, all resumes


def model_spec(cfg: Any, info: Any, class_names: list[str]) -> dict[str, Any]:
    """What a checkpoint carries so its model can be rebuilt without the training data: the
    image size and classes it was built for, its method and model config, the tokenizer it
    reads and the mmcl version that wrote it (`cfg`: a RunConfig; `info`: its DataInfo)."""
    from mmcl import __version__

    model = cfg.model
    return {
        "image_size": int(info.image_size),
        "num_classes": int(info.num_classes),
        "class_names": [str(c) for c in class_names],
        "method": cfg.method.name,
        "tokenizer": (
            f"open_clip:{model.open_clip_name}"
            if model.whole_open_clip
            else f"openai_bpe:{model.context_length}"
        ),
        "mmcl_version": __version__,
    }


def rng_states() -> dict[str, Any]:
    """Every RNG's state in plain types and tensors (what `weights_only` loading reads)."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _numpy_state() -> dict[str, Any]:
    state = np.random.get_state(legacy=False)
    inner = state["state"]
    key = torch.from_numpy(inner["key"].astype(np.int64))  # torch has no full uint32 support
    return {**state, "state": {"key": key, "pos": int(inner["pos"])}}


def _numpy_set_state(saved: dict[str, Any] | tuple) -> None:
    """Restore NumPy's RNG from format 2 (a dict with a tensor key) or format 1 (a tuple)."""
    if isinstance(saved, dict):
        key = saved["state"]["key"].numpy().astype(np.uint32)
        saved = {**saved, "state": {"key": key, "pos": saved["state"]["pos"]}}
    np.random.set_state(saved)


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    _numpy_set_state(states["numpy"])
    random.setstate(states["python"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(folder: Path, payload: dict[str, Any], step: int, keep: int) -> Path:
    """Write `step_<7-digit step>.pt` atomically, point `latest` at it, prune old ones.

    Pruning keeps the `keep` newest checkpoints up to `step` and drops any of later steps: those
    belong to a timeline this run abandoned (it resumed from an earlier one) and would otherwise
    outlive the checkpoints it writes now.
    """
    path = folder / f"step_{step:07d}.pt"
    payload = {"format": FORMAT, **payload}
    last = latest_checkpoint(folder)
    with sigint_deferred():
        try:
            atomic_write(path, lambda handle: torch.save(payload, handle))
            atomic_write_text(folder / LATEST, path.name + "\n")
        except (OSError, RuntimeError) as error:
            # torch.save reports a failed write (ENOSPC) as a RuntimeError of its zip writer
            # with the OSError as context; any other RuntimeError is not a write error
            cause = error if isinstance(error, OSError) else error.__context__
            if not isinstance(cause, OSError):
                raise
            raise write_error(path, cause, last) from None
        _prune(folder, path, keep)
    return path


def _prune(folder: Path, newest: Path, keep: int) -> None:
    files = checkpoint_files(folder)
    abandoned = [old for old in files if old.name > newest.name]
    earlier = [old for old in files if old.name <= newest.name]
    for old in abandoned + earlier[:-keep]:
        old.unlink(missing_ok=True)


def checkpoint_files(folder: Path) -> list[Path]:
    """The folder's `step_*.pt` files, oldest first (zero-padded steps sort by name)."""
    return sorted(folder.glob("step_*.pt"))


def write_error(path: Path, error: OSError, last: Path | None) -> MMCLError:
    """One line for a failed write (disk full, read-only): what failed and what is still safe."""
    safe = f"the last intact checkpoint is {last}" if last else "no checkpoint was written yet"
    return MMCLError(
        f"cannot write {path}: {error.strerror or error}; {safe}; free space or make the folder "
        f"writable, then resume (mmcl train --resume RUN)"
    )


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise it: a save finishes instead of breaking.

    A KeyboardInterrupt inside torch.save surfaces as an unrelated RuntimeError from its zip
    writer (a traceback, and a checkpoint lost); the temporary-file write then rename is short,
    so finishing it is the clean choice. Outside the main thread (no signals there) a no-op.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if not received:
            log.warning("interrupted: finishing the checkpoint write first")
        received.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        previous(signal.SIGINT, None)


def latest_checkpoint(folder: Path) -> Path | None:
    """The file `latest` names if it exists, else the newest `step_*.pt`, else None.

    Does not read the file: for callers that ask whether a run has a checkpoint and for
    messages; a resume uses `load_latest`, which also skips files that cannot be read.
    """
    candidates = _resume_candidates(folder)
    return candidates[0] if candidates else None


def load_latest(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint and its payload: `latest`'s, else the newest step file.

    None when the folder has no checkpoint at all; an MMCLError naming them when none can be
    read (then nothing is deleted: metrics and checkpoints stay for the user to inspect).
    """
    candidates = _resume_candidates(folder)
    for path in candidates:
        try:
            payload = load_checkpoint(path)
        except MMCLError as error:
            log.warning("%s; trying the previous checkpoint", error)
            continue
        if path != candidates[0]:
            log.warning("resuming from %s, the newest readable checkpoint", path)
        return path, payload
    if not candidates:
        return None
    raise MMCLError(
        f"no checkpoint in {folder} can be read ({', '.join(p.name for p in candidates)}); "
        f"restore one, or delete {folder} to train from step 0"
    )


def _resume_candidates(folder: Path) -> list[Path]:
    """`latest`'s target first (when it exists), then every step file, newest first."""
    newest_first = checkpoint_files(folder)[::-1]
    pointer = folder / LATEST
    if pointer.is_file():
        named = folder / pointer.read_text().strip()
        if named.is_file():
            return [named, *(p for p in newest_first if p != named)]
        log.debug("%s names %s, which is missing", pointer, named.name)
    return newest_first


def readable_or_explain(path: Path, run_dir: Path) -> None:
    """Raise, naming the run's other checkpoints and both ways on, when `path` (the one a
    command is about to score or export) cannot be read: a truncated or corrupt file is
    never silently replaced by an older one outside a resume."""
    try:
        load_checkpoint(path)
    except MMCLError as error:
        others = [p.name for p in checkpoint_files(path.parent) if p != path]
        kept = f"the run keeps {', '.join(others)}" if others else "it is the run's only one"
        raise MMCLError(
            f"{error}; {kept}: resume training to write it again (mmcl train --resume "
            f"{run_dir}){', or delete it to use the newest other one' if others else ''}"
        ) from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """One checkpoint's payload, read without running code; an `MMCLError` names a file that
    is corrupt, holds objects beyond tensors and plain types, or is no mmcl checkpoint."""
    payload = read_tensor_file(path, "checkpoint")
    if not isinstance(payload, dict) or "state" not in payload:
        raise MMCLError(f"checkpoint {path} is not an mmcl training checkpoint (no 'state' key)")
    if payload.get("format", 1) > FORMAT:
        raise MMCLError(
            f"checkpoint {path} has format {payload['format']}, newer than this mmcl reads "
            f"({FORMAT}); upgrade mmcl (pip install -U mmcl)"
        )
    return payload
