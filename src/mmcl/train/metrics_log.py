"""Scalars to `metrics.jsonl`, and to the tracker `train.logger` names, from rank 0 only.

`metrics.jsonl` is the run's record (reports and resume read it); a tracker
(`mmcl.train.trackers`) mirrors it and can never cost it a line.

A run killed mid-write can leave a half-written last line: readers skip it and a resume drops
it; a line that does not parse anywhere else is an error naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.distributed as dist

from mmcl.config import to_dict
from mmcl.errors import MMCLError
from mmcl.io import atomic_write_text
from mmcl.train.config import RunConfig
from mmcl.train.trackers import Mirror, open_mirror, result_scalars

METRICS = "metrics.jsonl"


class MetricsLog:
    """Appends records to `path`; from `resume_step` on when resuming (later lines dropped),
    else to a new file. Each record goes to `mirror` (a tracker) after the file has it."""

    def __init__(self, path: Path, resume_step: int = 0, mirror: Mirror | None = None) -> None:
        self.path = path
        if resume_step:
            self._truncate_after(resume_step)
        elif path.exists():
            path.unlink()
        self._mirror = mirror

    def _truncate_after(self, step: int) -> None:
        """Drop lines logged after the checkpoint we resume from, so steps never repeat."""
        if not self.path.exists():
            return
        kept = [record for record in read_metrics(self.path) if record.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(record) + "\n" for record in kept))

    def log(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._mirror is not None:
            self._mirror.log(record)

    def close(self) -> None:
        if self._mirror is not None:
            self._mirror.close()


def open_tracker(cfg: RunConfig, run_dir: Path, resume_step: int) -> Mirror | None:
    """The tracker of `train.logger` for a training of `run_dir` from `resume_step` (None
    for `none`). Open it before `MetricsLog` cuts the log back: the last step the log held
    is the last one the tracker was given."""
    path = run_dir / METRICS
    held = read_metrics(path) if resume_step and path.is_file() else []
    logged = max((int(record.get("step", 0)) for record in held), default=0)
    return open_mirror(cfg.train.logger, run_dir, to_dict(cfg), resume_step, logged)


def mirror_results(cfg: RunConfig, run_dir: Path, records: list[dict[str, Any]]) -> None:
    """Give the tracker of `train.logger` a run's final results once (`result_scalars`, at
    its last step), from rank 0; the door calls it after writing `results.json`."""
    if dist.is_initialized() and dist.get_rank() != 0:
        return
    mirror = open_mirror(cfg.train.logger, run_dir, to_dict(cfg), None)
    if mirror is not None:
        mirror.log_results(cfg.train.steps, result_scalars(records))
        mirror.close()


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
