"""The `results.json` record format (the tasks themselves: `mmcl.eval.context.EVAL_TASKS`).

Records are flat dicts, one metric each, like CLIP_benchmark's, but they also carry the split and
the number of samples it held: CLIP_benchmark's records lack both, and its issue #48 shows a wrong
split going unnoticed. A run's `results.json` is `{"meta": {...}, "records": [...]}`, written
atomically so a crash never leaves a half-written file behind for `mmcl robustness` to read.

What a number was measured with is kept once per file: a record field `<kind>_sha256` (e.g.
`templates_sha256`, `class_names_sha256`, `preprocess_sha256`) holds the short sha256 of the
exact content (`content_digest`), and `meta["provenance"][<kind>][key]` holds that content, so
ImageNet's 80 templates and 1000 class names are written once, not in every record, and an
outside check can recompute each key from what it names.
"""

from __future__ import annotations

import base64
import hashlib
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


PROVENANCE = "provenance"  # meta block: kind -> {key: content}
KEY_SUFFIX = "_sha256"  # record field `<kind>_sha256` names meta[PROVENANCE][<kind>][key]
DIGEST_CHARS = 12  # hex characters kept of the sha256: 48 bits, no clash among a file's sets


def content_digest(content: Any) -> str:
    """The short sha256 of `content` as canonical JSON (sorted keys, no spaces, UTF-8), which an
    outside check recomputes: for templates, `hashlib.sha256(json.dumps(templates,
    separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()[:12]`."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


class ContentKey(str):
    """A record's provenance key: the `content_digest` of `content`, which it also carries.

    It is a plain string to every reader (equality, JSON), so records in memory equal records
    read back; `write_results` moves the content it carries into the file's provenance block,
    which is how the door, `mmcl eval` and the experiments all write it without passing it.
    """

    kind: str
    content: Any

    def __new__(cls, kind: str, content: Any) -> ContentKey:
        key = super().__new__(cls, content_digest(content))
        key.kind, key.content = kind, content
        return key

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its content (records cross process boundaries in sweeps)."""
        return (ContentKey, (self.kind, self.content))


def provenance_field(kind: str, content: Any) -> dict[str, ContentKey]:
    """`{"<kind>_sha256": key}`: the record field that names `content` by its digest."""
    return {kind + KEY_SUFFIX: ContentKey(kind, content)}


def with_provenance(meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """`meta` with every content the records' keys carry in its provenance block (beside what
    the block held already), so the file names each template list or preprocessing once."""
    table = {kind: dict(entries) for kind, entries in meta.get(PROVENANCE, {}).items()}
    for record in records:
        for value in record.values():
            if isinstance(value, ContentKey):
                table.setdefault(value.kind, {})[str(value)] = value.content
    return meta | {PROVENANCE: table} if table else meta


def _rekeyed(path: Path, data: dict[str, Any]) -> None:
    """Turn the records' provenance keys read from `path` back into `ContentKey`s carrying what
    the provenance block says they name, so records read, merged and written again keep it; a
    key whose content no longer hashes to it means the file was edited."""
    table = data["meta"].get(PROVENANCE, {})
    for record in data["records"]:
        for field, value in record.items():
            kind = field.removesuffix(KEY_SUFFIX)
            if kind == field or not isinstance(value, str) or value not in table.get(kind, {}):
                continue
            key = ContentKey(kind, table[kind][value])
            if key != value:
                raise MMCLError(
                    f"{path}: meta.{PROVENANCE}.{kind}[{value}] does not hash to {value} (the "
                    "file was edited); score the run again with `mmcl eval`"
                )
            record[field] = key


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
    """Write `{"meta": meta, "records": records}` to `path` atomically; the meta gains the
    provenance block the records' keys name (`with_provenance`)."""
    document = {"meta": with_provenance(meta, records), "records": records}
    atomic_write_text(Path(path), json.dumps(document, indent=1, allow_nan=False))


def _shape_error(data: Any) -> str | None:
    """What is wrong with the parsed contents, or None when they have the results shape."""
    if not isinstance(data, dict) or set(data) != {"meta", "records"}:
        return 'the top level must be an object with exactly the keys "meta" and "records"'
    if not isinstance(data["meta"], dict):
        return '"meta" must be an object'
    table = data["meta"].get(PROVENANCE, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        return f'"meta.{PROVENANCE}" must map each kind to an object of key: content'
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
    """Load and validate a `results.json`; MMCLError naming the file when it is missing or bad.
    Files written before records carried provenance keys read as they did."""
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
    _rekeyed(path, data)
    return data
