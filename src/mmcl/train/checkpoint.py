"""Atomic checkpoints with a `latest` pointer, holding everything a resume needs.

A checkpoint is written to a temporary file and renamed into place, and the pointer is updated
only after that, so a kill at any moment (SIGKILL included) leaves the previous checkpoint
intact and `latest` naming a complete file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmcl.errors import MMCLError
from mmcl.io import atomic_write, atomic_write_text

LATEST = "latest"


@dataclass
class TrainState:
    """Where training stands: the sampler position and RNG states make a resume exact."""

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already consumed
    samples_seen: int = 0


def rng_states() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(folder: Path, payload: dict[str, Any], step: int, keep: int) -> Path:
    """Write `step_<7-digit step>.pt` atomically, point `latest` at it, prune old ones."""
    path = folder / f"step_{step:07d}.pt"
    atomic_write(path, lambda handle: torch.save(payload, handle))
    atomic_write_text(folder / LATEST, path.name + "\n")
    for old in sorted(folder.glob("step_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(folder: Path) -> Path | None:
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    path = folder / pointer.read_text().strip()
    if not path.is_file():
        raise MMCLError(
            f"{pointer} names {path.name}, which is missing: delete {pointer} to restart"
        )
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a corrupt file must name itself, not dump a pickle trace
        raise MMCLError(
            f"checkpoint {path} cannot be read ({error}); remove it to resume earlier"
        ) from None
