"""Accuracy records for `mmcl robustness`, and every input that gives none, with why.

Three kinds of input become mmcl accuracy records: mmcl's results.json files, CLIP_benchmark's
JSON outputs (one per dataset, model and task) and CLIP_benchmark's ``build`` table. Their
dataset and split names are renamed by the user's aliases (``--alias OLD=NEW``) before
anything matches them, and ``pivot`` makes one row per (model, task) with one column per split.

CLIP_benchmark's ``clip_benchmark build FILE.json ... --output benchmark.csv`` (``main_build``
in its ``clip_benchmark/cli.py``) writes one row per JSON output: the output's metrics (``acc1``,
``acc5``, ``mean_per_class_recall``, ``mean_average_precision``, ``image_retrieval_recall@5``,
...), the output's other keys (``dataset``, ``model``, ``pretrained``, ``task``, ``language``)
and ``model_fullname`` ("model pretrained"). Its columns are the union over the files, in the
order of a Python set, so they are found by name, and a metric a row's output lacked is an empty
cell. Each row is turned back into the JSON output it came from and read as that file is, so a
build table and its JSON files give the same rows.

Only top-1 accuracy is placed (mmcl's ``accuracy``; CLIP_benchmark's ``acc1`` of
``zeroshot_classification`` and ``linear_probe``). A file, a model's task or a record that gives
none is a ``Skip`` naming its source and the reason; other metrics of a model that is placed
are not skips, they are simply not what robustness reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmcl.config import parse_pairs, read_yaml
from mmcl.errors import MMCLError
from mmcl.eval.clip_benchmark import (
    CLASSIFICATION_METRICS,
    TASKS,
    from_clip_benchmark,
    is_clip_benchmark,
)

ATTRIBUTES = "attributes"  # the attribute-probe task: features, not predictions
ACCURACY = "accuracy"  # the one metric robustness places
ACC1 = CLASSIFICATION_METRICS[ACCURACY]  # its CLIP_benchmark name
READ_TASKS = (TASKS["zeroshot"], TASKS["linear_probe"])  # CLIP_benchmark tasks with an acc1
BUILD_KEYS = ("dataset", "model", "pretrained", "task")  # a build table's identifying columns
BUILD_EXTRA = ("language", "model_fullname")  # its other non-metric columns
SHOWN = 3  # sources named in one line before "and N more"


@dataclass(frozen=True)
class Skip:
    """An input left out of the robustness table: where it came from, what it is, and why."""

    source: str  # file(s), or "FILE line N" for a row of a table
    what: str  # e.g. "model 'clip' task 'retrieval'"; "" when the whole source is left out
    reason: str  # what is missing and, where there is one, the fix

    def line(self) -> str:
        """The one line printed on stderr."""
        where = f"{self.what} from {self.source}" if self.what else self.source
        return f"{where}: {self.reason}"

    def record(self) -> dict[str, str]:
        """The JSON form, for robustness.json's `skipped` list."""
        return asdict(self)


def sources_text(sources: Sequence[str]) -> str:
    """'a, b, c and 4 more': the first few of many sources, in the order given."""
    unique = list(dict.fromkeys(sources))
    more = len(unique) - SHOWN
    return ", ".join(unique[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def merge_skips(skips: Sequence[Skip]) -> list[Skip]:
    """One skip per (what, reason), its sources joined: 20 runs' attribute probes are one line."""
    groups: dict[tuple[str, str], list[str]] = {}
    for s in skips:
        groups.setdefault((s.what, s.reason), []).append(s.source)
    return [Skip(sources_text(src), what, reason) for (what, reason), src in groups.items()]


@dataclass
class Aliases:
    """Dataset/split renames (OLD -> NEW) applied once, not in chains, to every input name."""

    names: dict[str, str] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # OLD -> the flag that gave it
    used: set[str] = field(default_factory=set)  # OLDs that matched an input name
    seen: set[str] = field(default_factory=set)  # every input name looked up, for messages

    def rename(self, name: str) -> str:
        """The name the inputs' `name` goes by (exact match; names are case-sensitive)."""
        self.seen.add(name)
        if name not in self.names:
            return name
        self.used.add(name)
        return self.names[name]

    def unused_notes(self) -> list[str]:
        """One note per flag whose aliases matched nothing; an MMCLError when none matched at
        all, since then the flags did nothing and a name is surely mistyped."""
        unused = [old for old in self.names if old not in self.used]
        if not unused:
            return []
        seen = sorted(self.seen)
        have = f"the inputs have: {', '.join(seen[:12])}{' ...' if len(seen) > 12 else ''}"
        if len(unused) == len(self.names):
            flags = " / ".join(dict.fromkeys(self.origin.values()))
            raise MMCLError(
                f"{flags}: no alias matched a dataset, split or column name of the inputs "
                f"({self._pairs(unused)}); {have} (aliases match names exactly)"
            )
        by_flag: dict[str, list[str]] = {}
        for old in unused:
            by_flag.setdefault(self.origin[old], []).append(old)
        return [f"{flag} {self._pairs(olds)} matched no name of the inputs ({have})"
                for flag, olds in by_flag.items()]  # fmt: skip

    def _pairs(self, olds: Sequence[str]) -> str:
        return ", ".join(f"{old}={self.names[old]}" for old in olds)


def parse_aliases(flags: Sequence[str], file: str | None) -> Aliases:
    """--alias-file's mapping, then each --alias 'OLD=NEW[,OLD=NEW]' (a flag wins over the file)."""
    aliases = Aliases()
    if file:
        for old, new in _alias_file(Path(file)).items():
            aliases.names[old], aliases.origin[old] = new, f"--alias-file {file}"
    for text in flags:
        for old, new in parse_pairs(text, "--alias").items():
            if aliases.origin.get(old) == "--alias" and aliases.names[old] != new:
                raise MMCLError(
                    f"--alias: {old!r} is renamed twice ({aliases.names[old]!r} and {new!r}); "
                    "give each name one new name"
                )
            aliases.names[old], aliases.origin[old] = new, "--alias"
    return aliases


def _alias_file(path: Path) -> dict[str, str]:
    """A YAML (or JSON) mapping of OLD: NEW names, read as plain data."""
    if not path.is_file():
        raise MMCLError(f"--alias-file: no such file {path}; give a YAML or JSON mapping OLD: NEW")
    data = read_yaml(path.read_text(), str(path))
    pairs = data.items() if isinstance(data, dict) else []
    if not pairs or not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        raise MMCLError(
            f"{path}: --alias-file takes a mapping of names to names, one 'OLD: NEW' per line "
            "(e.g. 'wds/shapes_id: id'); quote names YAML would read as numbers or booleans"
        )
    return {k.strip(): v.strip() for k, v in pairs}


@dataclass
class Batch:
    """The accuracy records read from one source; `file` tells models in several files apart."""

    file: Path
    origin: str  # the file, or "FILE line N" for a row of a table
    records: list[dict[str, Any]]


def results_file(path: Path, aliases: Aliases) -> tuple[Batch, list[Skip]]:
    """The accuracy records of one results.json or CLIP_benchmark output, and what gave none."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        hint = "; a CSV table goes with --table" if path.suffix.lower() == ".csv" else ""
        raise MMCLError(f"{path}: cannot read results.json ({e}){hint}") from e
    if is_clip_benchmark(doc):  # one CLIP_benchmark output
        records, skips = clip_benchmark_records(doc, str(path), aliases)
        return Batch(path, str(path), records), skips
    records = doc.get("records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise MMCLError(
            f"{path}: expected mmcl's {{'meta': ..., 'records': [...]}} or a CLIP_benchmark "
            "output ({'dataset', 'task', 'metrics', ...})"
        )
    kept, skips = _accuracy_records(records, str(path), aliases)
    if not records:
        skips.append(Skip(str(path), "", "the file holds no records"))
    return Batch(path, str(path), kept), skips


def _accuracy_records(
    records: list[Any], source: str, aliases: Aliases
) -> tuple[list[dict[str, Any]], list[Skip]]:
    """The records robustness places, splits renamed; each (model, task) left with none is a
    skip saying which filter took it (attribute probes, other metrics, a value that is no
    accuracy)."""
    kept: list[dict[str, Any]] = []
    skips: list[Skip] = []
    reasons: dict[tuple[str, str], set[str]] = {}  # metrics a (model, task) had but we left out
    for r in records:
        if not isinstance(r, dict):
            raise MMCLError(f"{source}: a record is {type(r).__name__}, not an object: {r!r}")
        key = (_model_label(r), str(r.get("task", "")))
        if "attribute" in r or key[1] == ATTRIBUTES:
            reasons.setdefault(key, set()).add("attribute probes")
        elif r.get("metric") != ACCURACY:
            reasons.setdefault(key, set()).add(str(r.get("metric")))
        elif _check_fields(r, source) and not _finite(r["value"]):
            what = f"model {key[0]!r} task {key[1]!r} split {r['split']!r}"
            skips.append(Skip(source, what, f"value {r['value']!r} is not a finite accuracy"))
        else:
            kept.append({**r, "split": aliases.rename(str(r["split"]))})
    placed = {(_model_label(r), str(r.get("task", ""))) for r in kept}
    for key, metrics in reasons.items():
        if key not in placed:
            skips.append(Skip(source, f"model {key[0]!r} task {key[1]!r}", _why_not(metrics)))
    return kept, skips


def _why_not(metrics: set[str]) -> str:
    """Why a (model, task) with only these metrics gives no point."""
    if metrics == {"attribute probes"}:
        return "attribute probes score what the features hold, not the model's predictions"
    listed = ", ".join(sorted(metrics))
    return f"no 'accuracy' record (its metrics: {listed}); robustness reads top-1 accuracy"


def _check_fields(record: dict[str, Any], source: str) -> bool:
    """True when an accuracy record has the fields a point needs, else an MMCLError."""
    missing = [k for k in ("model", "split", "value") if k not in record]
    if missing:
        raise MMCLError(f"{source}: an accuracy record lacks {missing}: {record}")
    return True


def _finite(value: Any) -> bool:
    """A real number that is neither NaN nor infinite (bools are not accuracies)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _model_label(record: dict[str, Any]) -> str:
    model = str(record.get("model", "?"))
    return f"{model}@step {record['step']}" if "step" in record else model


def clip_benchmark_records(
    doc: dict[str, Any], source: str, aliases: Aliases
) -> tuple[list[dict[str, Any]], list[Skip]]:
    """mmcl records of one CLIP_benchmark output, its dataset renamed; or why it gives no
    top-1 accuracy (another task, no acc1, an acc1 that is not a number)."""
    model = f"{doc.get('model', '?')}/{doc.get('pretrained', '?')}"
    what = f"{doc['task']} of {model!r} on {doc['dataset']!r}"
    metrics = doc["metrics"] if isinstance(doc["metrics"], dict) else {}
    reason = None
    if doc["task"] not in READ_TASKS:
        reason = f"no top-1 accuracy in a {doc['task']} result; robustness reads the {ACC1} of "
        reason += " and ".join(READ_TASKS)
    elif ACC1 not in metrics:
        listed = ", ".join(metrics) or "none"
        reason = f"no {ACC1} among its metrics ({listed}); robustness reads top-1 accuracy"
    elif not _finite(metrics[ACC1]):
        reason = f"{ACC1} is {metrics[ACC1]!r}, not a finite accuracy"
    if reason is not None:
        return [], [Skip(source, what, reason)]
    readable = {k: v for k, v in metrics.items() if _finite(v)}  # acc5 may be NaN on 2 classes
    renamed = {**doc, "dataset": aliases.rename(str(doc["dataset"])), "metrics": readable}
    records = [r for r in from_clip_benchmark(renamed, source) if r["metric"] == ACCURACY]
    return records, []


def is_build_table(columns: Sequence[str]) -> bool:
    """Whether a CSV's columns are those of CLIP_benchmark's build table (long format)."""
    return set(BUILD_KEYS) <= set(columns)


def build_table_batches(
    path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]], aliases: Aliases
) -> tuple[list[Batch], list[Skip]]:
    """One batch per row of a build table, each read as the JSON output it was built from."""
    metric_columns = [c for c in columns if c not in (*BUILD_KEYS, *BUILD_EXTRA)]
    batches, skips = [], []
    for i, row in enumerate(rows):
        doc: dict[str, Any] = {k: row.get(k) or "" for k in (*BUILD_KEYS, "language")}
        doc["metrics"] = {c: _cell(row[c]) for c in metric_columns if (row.get(c) or "").strip()}
        origin = f"{path} line {i + 2}"
        records, skipped = clip_benchmark_records(doc, origin, aliases)
        batches.append(Batch(path, origin, records))
        skips += skipped
    return batches, skips


def _cell(text: str) -> float | str:
    """A metric cell as the number the JSON output held (text stays text, to be reported)."""
    try:
        return float(text)
    except ValueError:
        return text.strip()


@dataclass
class Pivot:
    """One row per (model, task) with one column per split, and the sources of each row."""

    columns: list[str]
    rows: list[dict[str, str]]
    origins: list[str]


def pivot(batches: Sequence[Batch]) -> Pivot:
    """Rows of accuracies; a model whose split is scored in several files is told apart by
    its folder, `model [folder]`, as `mmcl report` does; two accuracies for one split of a
    row from one file are an error (an alias may have merged two names)."""
    files_of: dict[tuple[str, str, str], set[Path]] = {}
    for b in batches:
        for r in b.records:
            files_of.setdefault(_row_key(r) + (str(r["split"]),), set()).add(b.file)
    repeated = {model for (model, _, _), files in files_of.items() if len(files) > 1}
    rows: dict[tuple[str, str], dict[str, str]] = {}
    origins: dict[tuple[str, str], dict[str, str]] = {}  # row -> split -> the source it came from
    for b in batches:
        for r in b.records:
            model, task = _row_key(r)
            if model in repeated:
                model = f"{model} [{b.file.parent.name}]"
            row = rows.setdefault((model, task), {"model": model, "task": task})
            split, seen = str(r["split"]), origins.setdefault((model, task), {})
            if split in row:
                raise MMCLError(
                    f"{b.origin}: model {model!r} task {task!r} has a second accuracy on split "
                    f"{split!r} (the first is in {seen[split]}); a results file holds one per "
                    "model, task and split: check the inputs and --alias"
                )
            row[split], seen[split] = repr(float(r["value"])), b.origin
    columns = list(dict.fromkeys(c for r in rows.values() for c in r))
    sources = [sources_text(list(seen.values())) for seen in origins.values()]
    return Pivot(columns, list(rows.values()), sources)


def _row_key(record: dict[str, Any]) -> tuple[str, str]:
    return _model_label(record), str(record.get("task", ""))
