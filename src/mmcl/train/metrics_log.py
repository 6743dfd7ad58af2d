"""Scalars to `metrics.jsonl` (and TensorBoard when it is installed), from rank 0 only.

A run killed mid-write can leave a half-written last line: readers skip it and a resume drops
it; a line that does not parse anywhere else is an error naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.io import atomic_write_text


class MetricsLog:
    def __init__(self, path: Path, resume_step: int = 0) -> None:
        self.path = path
        if resume_step:
            self._truncate_after(resume_step)
        elif path.exists():
            path.unlink()
        self._tensorboard = _tensorboard_writer(path.parent / "tensorboard")

    def _truncate_after(self, step: int) -> None:
        """Drop lines logged after the checkpoint we resume from, so steps never repeat."""
        if not self.path.exists():
            return
        kept = [record for record in read_metrics(self.path) if record.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(record) + "\n" for record in kept))

    def log(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float):
                    self._tensorboard.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl`, without a half-written last line (a killed write)."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: the write was cut short
                break
            raise MMCLError(
                f"{path}:{number} is not a JSON record ({error.msg}); delete that line"
            ) from None
    return records
