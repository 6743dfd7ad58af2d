"""CLIP_benchmark's result files, both ways: mmcl's records written in its names, and its
JSON outputs read back as mmcl records (so `mmcl robustness` can place models scored by
CLIP_benchmark next to mmcl's).

CLIP_benchmark writes one JSON per (dataset, model, task): `{"dataset", "model", "pretrained",
"task", "metrics": {...}, "language"}`, with tasks `zeroshot_classification`,
`zeroshot_retrieval` and `linear_probe`, and metric names `acc1`, `acc5`,
`mean_per_class_recall`, `image_retrieval_recall@k` (text -> image) and
`text_retrieval_recall@k` (image -> text).

An export is meant to be re-checked with CLIP_benchmark alone: `model` is the architecture
(`ViT-B-32`, `local-dir:DIR`) and `pretrained` the checkpoint, `dataset` is CLIP_benchmark's
name of the split (`imagenet1k`, `imagenetv2`, `imagenet-r`...), and the prompts scored are
written beside the outputs in its custom-file layout (`export_clip_benchmark`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.eval.tasks import KEY_SUFFIX, PROVENANCE, make_record
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


# mmcl split names -> CLIP_benchmark's dataset names (its `--dataset`), by a spelling-free key
CB_DATASETS = {
    "imagenet": "imagenet1k",
    "imagenet1k": "imagenet1k",
    "imagenetv2": "imagenetv2",
    "imagenetsketch": "imagenet_sketch",
    "imagenetr": "imagenet-r",
    "imageneta": "imagenet-a",
    "objectnet": "objectnet",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
}
# CLIP_benchmark's own file names and layouts ({dataset: [templates]}, {dataset: [classes]}):
# what its `--custom_template_file` and `--custom_classname_file` read.
TEMPLATES_FILE = "en_zeroshot_classification_templates.json"
CLASSNAMES_FILE = "en_classnames.json"
PROVENANCE_FILE = "mmcl_provenance.json"  # per output: the data, split and preprocessing scored
# The three files above go in OUT/reproduce/: `clip_benchmark build OUT/*.json` reads outputs.
INPUTS_DIR = "reproduce"
VERSIONS = ("mmcl_version", "torch_version", "open_clip_version")
SOURCE_FIELDS = ("split", "n_samples", "precision", "template_set", "checkpoint", "weights")


def clip_benchmark_dataset(split: str) -> str:
    """CLIP_benchmark's name of a split (imagenet -> imagenet1k, imagenet_r -> imagenet-r); a
    split it has no name for keeps its own."""
    return CB_DATASETS.get(re.sub(r"[^a-z0-9]", "", split.lower()), split)


def model_and_checkpoint(record: dict[str, Any], meta: dict[str, Any]) -> tuple[str, str]:
    """CLIP_benchmark's `model` (the architecture) and `pretrained` (the checkpoint) of a record.

    A model scored by `mmcl eval --model` gives its own (`ViT-B-32` or `local-dir:DIR`, and its
    checkpoint file); a run trained here its architecture (open_clip's name, or mmcl's towers)
    and the checkpoint file the record names; a file written before either was recorded, the
    meta's `model` or else the run's name, as exports did then.
    """
    if "architecture" in record:
        return str(record["architecture"]), str(record.get("pretrained", ""))
    if "model" in meta:
        return str(meta["model"]), str(meta.get("pretrained", ""))
    run_dir, checkpoint = meta.get("run_dir"), record.get("checkpoint")
    if run_dir and checkpoint:
        pretrained = str(Path(run_dir) / "checkpoints" / str(checkpoint))
    else:
        pretrained = str(meta.get("run", record["model"]))
    return str(meta.get("architecture", record["model"])), pretrained


@dataclass
class Export:
    """One CLIP_benchmark output and the record that says what it scored (its split, data,
    prompts and preprocessing: every record of one output shares them)."""

    document: dict[str, Any]
    source: dict[str, Any]


def _exports(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> list[Export]:
    """One `Export` per (model, checkpoint, dataset, task) of the records CLIP_benchmark has
    names for, so a file scoring several checkpoints gives one output per checkpoint."""
    exports: dict[tuple[str, str, str, str], Export] = {}
    for r in records:
        task = TASKS.get(r.get("task", ""))
        metric = _metric_name(r.get("task", ""), r.get("metric", "")) if task else None
        if metric is None or "attribute" in r:
            continue
        model, pretrained = model_and_checkpoint(r, meta)
        dataset = clip_benchmark_dataset(r["split"])
        document = {"dataset": dataset, "model": model, "pretrained": pretrained,
                    "task": task, "metrics": {}, "language": "en"}  # fmt: skip
        export = exports.setdefault((model, pretrained, dataset, task), Export(document, r))
        export.document["metrics"][metric] = r["value"]
    return list(exports.values())


def to_clip_benchmark(
    records: Sequence[dict[str, Any]], meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """One CLIP_benchmark document per (model, checkpoint, dataset, task) of the records it has
    names for: `dataset` in CLIP_benchmark's names, `model` the architecture and `pretrained`
    the checkpoint (`model_and_checkpoint`)."""
    return [export.document for export in _exports(records, meta)]


def output_name(document: dict[str, Any]) -> str:
    """The file CLIP_benchmark's default `--output` template gives the document,
    `{dataset}_{pretrained}_{model}_{language}_{task}.json`, with a checkpoint file named by its
    base name as CLIP_benchmark does and any other character a path cannot hold replaced."""
    pretrained = str(document["pretrained"])
    slug = {
        **document,
        "pretrained": Path(pretrained).name if Path(pretrained).is_file() else pretrained,
    }
    stem = "_".join(
        re.sub(r"[^A-Za-z0-9._-]+", "-", str(slug[k]))
        for k in ("dataset", "pretrained", "model", "language", "task")
    )
    return f"{stem}.json"


def write_clip_benchmark(documents: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One file per document, named as CLIP_benchmark names its outputs."""
    paths = []
    for doc in documents:
        path = out_dir / output_name(doc)
        atomic_write_text(path, json.dumps(doc, indent=1))
        paths.append(path)
    return paths


def _provenance(meta: dict[str, Any], record: dict[str, Any], kind: str) -> Any:
    """What the record's `<kind>_sha256` key names in the file's provenance block, or None (a
    record written before mmcl recorded it)."""
    return meta.get(PROVENANCE, {}).get(kind, {}).get(record.get(kind + KEY_SUFFIX))


def zeroshot_inputs(
    exports: Sequence[Export], meta: dict[str, Any], source: str
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """CLIP_benchmark's custom template and class-name tables ({dataset: list}) of the zero-shot
    outputs: the exact prompts scored, templates written with its `{c}` for the class name."""
    templates: dict[str, list[str]] = {}
    classnames: dict[str, list[str]] = {}
    for export in exports:
        used = [_provenance(meta, export.source, k) for k in ("templates", "class_names")]
        if export.document["task"] != "zeroshot_classification" or None in used:
            continue
        dataset = export.document["dataset"]
        pairs = ((templates, [t.replace("{}", "{c}") for t in used[0]]), (classnames, used[1]))
        for table, value in pairs:
            if table.setdefault(dataset, value) != value:
                raise MMCLError(
                    f"{source}: its zero-shot records on {dataset} were scored with different "
                    "prompts, and CLIP_benchmark's custom files hold one list per dataset; "
                    "export one model's results file at a time"
                )
    return templates, classnames


def export_clip_benchmark(
    results: dict[str, Any], out_dir: Path, source: str, model_dir: Path | None = None
) -> list[Path]:
    """Write a results file (`read_results`) as CLIP_benchmark outputs, with what reproduces
    them: the templates and class names used in CLIP_benchmark's custom-file layout
    (`TEMPLATES_FILE`, `CLASSNAMES_FILE`), and per output the data folder, split, sample count,
    precision and preprocessing it was scored with, and the versions that scored it
    (`PROVENANCE_FILE`), these three in `OUT/reproduce/`. Returns the files written, the
    outputs first. `model_dir`: see `as_model_folder`."""
    meta = results["meta"]
    exports = _exports(results["records"], meta)
    if model_dir is not None:
        as_model_folder(exports, model_dir, source)
    paths = write_clip_benchmark([export.document for export in exports], out_dir)
    templates, classnames = zeroshot_inputs(exports, meta, source)
    tables = {TEMPLATES_FILE: templates, CLASSNAMES_FILE: classnames} if templates else {}
    outputs = {
        path.name: _scored(export.source, meta) for path, export in zip(paths, exports, strict=True)
    }
    versions = {k: meta[k] for k in VERSIONS if k in meta}
    tables[PROVENANCE_FILE] = {"results": source, **versions, "outputs": outputs}
    for name, table in tables.items():
        path = out_dir / INPUTS_DIR / name
        atomic_write_text(path, json.dumps(table, indent=1, ensure_ascii=False))
        paths.append(path)
    return paths


def as_model_folder(exports: Sequence[Export], model_dir: Path, source: str) -> None:
    """Name the outputs' model `local-dir:DIR`, the open_clip folder `mmcl export` wrote of the
    run (its latest weights): a run trained here has no name open_clip could load its weights
    by, and open_clip ignores `pretrained` for such a folder, so it is left empty."""
    checkpoints = {export.source.get("checkpoint") for export in exports}
    if len(checkpoints) > 1:
        raise MMCLError(
            f"--model-dir names one model's weights, but {source} scores {len(checkpoints)} "
            "checkpoints; export the run's results.json (its latest checkpoint) instead"
        )
    for export in exports:
        export.document |= {"model": f"local-dir:{model_dir}", "pretrained": ""}


def _scored(record: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """What one output was scored on and how: `dataset_root` (the folder, file or world the
    split was read from), the record's split, count, precision and prompt set, and the
    preprocessing it names."""
    fields = {k: record[k] for k in SOURCE_FIELDS if k in record}
    preprocess = _provenance(meta, record, "preprocess")
    return {"dataset_root": record["dataset"], **fields} | (
        {"preprocess": preprocess} if preprocess is not None else {}
    )


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
