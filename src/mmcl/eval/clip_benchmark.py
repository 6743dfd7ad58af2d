"""CLIP_benchmark's result files, both ways: mmcl's records written in its names, and its
JSON outputs read back as mmcl records (so `mmcl robustness` can place models scored by
CLIP_benchmark next to mmcl's).

CLIP_benchmark writes one JSON per (dataset, model, task): `{"dataset", "model", "pretrained",
"task", "metrics": {...}, "language"}`, with tasks `zeroshot_classification`,
`zeroshot_retrieval` and `linear_probe`, and metric names `acc1`, `acc5`,
`mean_per_class_recall`, `image_retrieval_recall@k` (text -> image) and
`text_retrieval_recall@k` (image -> text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.eval.tasks import make_record
from mmcl.io import atomic_write_text

TASKS = {  # mmcl task -> CLIP_benchmark task
    "zeroshot": "zeroshot_classification",
    "linear_probe": "linear_probe",
    "retrieval": "zeroshot_retrieval",
}
CLASSIFICATION_METRICS = {  # mmcl metric -> CLIP_benchmark metric
    "accuracy": "acc1",
    "top5_accuracy": "acc5",
    "mean_per_class_accuracy": "mean_per_class_recall",
}
RETRIEVAL = re.compile(r"^(image_to_text|text_to_image)_R@(\d+)$")
RETRIEVAL_NAMES = {"text_to_image": "image_retrieval", "image_to_text": "text_retrieval"}


def _metric_name(task: str, metric: str) -> str | None:
    if task == "retrieval":
        match = RETRIEVAL.match(metric)
        return f"{RETRIEVAL_NAMES[match[1]]}_recall@{match[2]}" if match else None
    return CLASSIFICATION_METRICS.get(metric)


def to_clip_benchmark(
    records: Sequence[dict[str, Any]], meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """One CLIP_benchmark document per (model, split, task) of the records it has names for."""
    documents: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        task = TASKS.get(r.get("task", ""))
        metric = _metric_name(r.get("task", ""), r.get("metric", "")) if task else None
        if metric is None or "attribute" in r:
            continue
        key = (r["model"], r["split"], task)
        document = documents.setdefault(key, {
            "dataset": r["split"],
            "model": str(meta.get("model", r["model"])),
            "pretrained": str(meta.get("pretrained", meta.get("run", r["model"]))),
            "task": task,
            "metrics": {},
            "language": "en",
        })  # fmt: skip
        document["metrics"][metric] = r["value"]
    return list(documents.values())


def write_clip_benchmark(documents: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One file per document, named as CLIP_benchmark names its outputs."""
    paths = []
    for doc in documents:
        stem = "_".join(
            re.sub(r"[^A-Za-z0-9._-]+", "-", str(doc[k]))
            for k in ("dataset", "pretrained", "model", "language", "task")
        )
        path = out_dir / f"{stem}.json"
        atomic_write_text(path, json.dumps(doc, indent=1))
        paths.append(path)
    return paths


def is_clip_benchmark(document: Any) -> bool:
    return isinstance(document, dict) and {"dataset", "task", "metrics"} <= set(document)


def from_clip_benchmark(document: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """mmcl records of one CLIP_benchmark output: classification acc1 becomes `accuracy`."""
    tasks = {v: k for k, v in TASKS.items()}
    task = tasks.get(document["task"])
    if task is None:
        raise MMCLError(f"{source}: CLIP_benchmark task {document['task']!r} is not one mmcl reads")
    names = {v: k for k, v in CLASSIFICATION_METRICS.items()}
    model = f"{document.get('model', '?')}/{document.get('pretrained', '?')}"
    records = []
    for metric, value in document["metrics"].items():
        ours = names.get(metric) if task != "retrieval" else _retrieval_metric(metric)
        if ours is not None and isinstance(value, int | float):
            records.append(make_record(model, task, document["dataset"], document["dataset"],
                                       0, ours, value, source=source))  # fmt: skip
    return records


def _retrieval_metric(metric: str) -> str | None:
    match = re.match(r"^(image|text)_retrieval_recall@(\d+)$", metric)
    if not match:
        return None
    direction = "text_to_image" if match[1] == "image" else "image_to_text"
    return f"{direction}_R@{match[2]}"
