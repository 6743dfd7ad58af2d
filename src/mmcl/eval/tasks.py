"""The `results.json` record format (the tasks themselves: `mmcl.eval.context.EVAL_TASKS`).

Records are flat dicts, one metric each, like CLIP_benchmark's, but they also carry the split and
the number of samples it held: CLIP_benchmark's records lack both, and its issue #48 shows a wrong
split going unnoticed. A run's `results.json` is `{"meta": {...}, "records": [...]}`, written
atomically so a crash never leaves a half-written file behind for `mmcl robustness` to read.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mmcl.errors import MMCLError
from mmcl.io import atomic_write_text

RECORD_KEYS = ("model", "task", "dataset", "split", "n_samples", "metric", "value")
# Accuracy records also keep which samples were right, packed one bit a sample (base64), so two
# models scored on the same samples get a paired error (`mmcl.stats.paired_accuracy_se`).
CORRECT_KEY = "correct"


def pack_correct(correct: Any) -> str:
    """Per-sample correctness (N bools) as base64 of its packed bits: 50,000 samples in 8 KB."""
    bits = np.packbits(np.asarray(correct, dtype=bool).reshape(-1))
    return base64.b64encode(bits.tobytes()).decode("ascii")


def unpack_correct(record: dict[str, Any]) -> np.ndarray:
    """The record's per-sample correctness (n_samples bools); an MMCLError if it has none."""
    if CORRECT_KEY not in record:
        raise MMCLError(
            f"record {record.get('task')}/{record.get('split')}/{record.get('metric')} has no "
            f"per-sample '{CORRECT_KEY}' field; rescore it with this version of mmcl"
        )
    bits = np.frombuffer(base64.b64decode(record[CORRECT_KEY]), dtype=np.uint8)
    return np.unpackbits(bits)[: int(record["n_samples"])].astype(bool)


def make_record(
    model_name: str,
    task: str,
    dataset: str,
    split: str,
    n_samples: int,
    metric: str,
    value: float,
    **extra: Any,
) -> dict[str, Any]:
    """One flat result record; `extra` adds fields such as checkpoint, seed or config_hash."""
    value = float(value)
    if not math.isfinite(value):
        raise MMCLError(f"metric {metric!r} of task {task!r} on {dataset}/{split} is {value}")
    clash = set(extra) & set(RECORD_KEYS)
    if clash:
        raise MMCLError(f"extra record fields {sorted(clash)} would overwrite the standard ones")
    record = {
        "model": model_name,
        "task": task,
        "dataset": dataset,
        "split": split,
        "n_samples": int(n_samples),
        "metric": metric,
        "value": value,
    }
    return record | extra


CHECKPOINT_RESULTS = "checkpoint_results.json"  # every kept checkpoint, scored after training


def write_results(path: str | Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write `{"meta": meta, "records": records}` to `path` atomically."""
    document = {"meta": meta, "records": records}
    atomic_write_text(Path(path), json.dumps(document, indent=1, allow_nan=False))


def _shape_error(data: Any) -> str | None:
    """What is wrong with the parsed contents, or None when they have the results shape."""
    if not isinstance(data, dict) or set(data) != {"meta", "records"}:
        return 'the top level must be an object with exactly the keys "meta" and "records"'
    if not isinstance(data["meta"], dict):
        return '"meta" must be an object'
    if not isinstance(data["records"], list):
        return '"records" must be a list'
    for i, record in enumerate(data["records"]):
        if not isinstance(record, dict):
            return f"record {i} is not an object"
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            return f"record {i} lacks {missing}"
        if not isinstance(record["value"], (int, float)) or isinstance(record["value"], bool):
            return f"record {i} has a non-numeric value {record['value']!r}"
    return None


def read_results(path: str | Path) -> dict[str, Any]:
    """Load and validate a `results.json`; MMCLError naming the file when it is missing or bad."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise MMCLError(f"{path}: no results file; run `mmcl eval` on that run first") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MMCLError(f"{path}: not valid JSON ({err}); re-run `mmcl eval`") from err
    problem = _shape_error(data)
    if problem:
        raise MMCLError(f"{path}: malformed results file: {problem}")
    return data
