"""Inputs of effective robustness: CSV tables of published results and mmcl results.json files.

Both become a ``Table`` of string rows, then ``ModelPoint``s (accuracies as fractions) keyed by the
shift names the user passed in ``--ood``, so a baseline table with other column names lines up.

- Column names match exactly, else by ``shift_key``: lowercase, drop everything but letters and
  digits, then a few aliases ("ImageNet 1k" -> imagenet). So "ImageNet v2", "imagenet_v2" and
  "imagenet-v2" are one column; ``--baseline-columns`` overrides the match.
- Units, per column ("auto"): any value above 1 means percent, else fractions. A percent column
  whose every model scores <= 1 % would be misread, hence the ``unit`` override (--percent/
  --fraction). results.json values are fractions by schema.
- Labels: the first non-numeric column (model/name), plus further non-numeric columns until labels
  are unique (open_clip's table needs ``pretrained``: "RN50/openai").
- The default ImageNet baseline is the shipped testbed table of standard models (baseline A of
  fang2022.md sec. 5), filtered by ``baseline_candidate=1``.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mmcl.config import parse_pairs
from mmcl.errors import MMCLError
from mmcl.eval.clip_benchmark import from_clip_benchmark, is_clip_benchmark
from mmcl.eval.robustness import ModelPoint

SHIFT_ALIASES = {
    "imagenet1k": "imagenet",
    "imagenetval": "imagenet",
    "ilsvrc2012": "imagenet",
    "imagenetv2matchedfrequency": "imagenetv2",
    "imagenetv2matchedfrequencyformatval": "imagenetv2",
    "objectnet10beta": "objectnet",
    "imagenetrendition": "imagenetr",
    "imagenetadversarial": "imageneta",
}
BASELINE_FLAG = "baseline_candidate"  # the testbed's STANDARD-and-clean marker column
ATTRIBUTES = "attributes"  # the attribute-probe task: features, not predictions


def shift_key(name: str) -> str:
    """A spelling-independent key for a dataset/column name."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return SHIFT_ALIASES.get(key, key)


def default_baseline_path() -> Path:
    """The shipped testbed standard-model table (see data/tables/README.md)."""
    return Path(str(resources.files("mmcl") / "data" / "tables" / "imagenet_testbed_standard.csv"))


@dataclass
class Table:
    """String rows from one source; ``source`` names it in messages and default groups."""

    source: str
    columns: list[str]
    rows: list[dict[str, str]]
    unit: str = "auto"  # "auto" | "percent" | "fraction"

    def column(self, name: str, flag: str) -> str:
        """The column matching ``name`` exactly or by shift_key, else an MMCLError with a hint."""
        if name in self.columns:
            return name
        hits = [c for c in self.columns if shift_key(c) == shift_key(name)]
        if len(hits) == 1:
            return hits[0]
        close = difflib.get_close_matches(name, self.columns, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise MMCLError(
            f"{flag}: column {name!r} not found in {self.source}{hint} "
            f"(available: {', '.join(self.columns)})"
        )


def read_csv_table(path: str | Path, unit: str = "auto") -> Table:
    """A CSV file with a header row."""
    path = Path(path)
    if not path.is_file():
        raise MMCLError(f"--table: no such file {path}; give an existing CSV")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = [dict(r) for r in reader]
        columns = list(reader.fieldnames or [])
    if not rows:
        raise MMCLError(f"{path}: the table has no rows")
    return Table(str(path), columns, rows, unit)


def read_results_json(paths: Sequence[str | Path]) -> Table:
    """Pivot accuracy records into one row per (model, task) with one column per split.

    Attribute probes are not a model's prediction and are left out. A record scored at a kept
    checkpoint becomes `model@step N`. Files may split one model's splits between them (as
    CLIP_benchmark writes one file per dataset); a model whose split is scored in several
    files is told apart by its folder, `model [folder]`, as `mmcl report` does.
    """
    loaded = [(path, _accuracy_records(path)) for path in map(Path, paths)]
    files_of: dict[tuple[str, str, str], set[Path]] = {}
    for path, records in loaded:
        for rec in records:
            key = (_model_label(rec), str(rec.get("task", "")), str(rec["split"]))
            files_of.setdefault(key, set()).add(path)
    repeated = {model for (model, _, _), files in files_of.items() if len(files) > 1}
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for path, records in loaded:
        for rec in records:
            model = _model_label(rec)
            if model in repeated:
                model = f"{model} [{path.parent.name}]"
            key = (model, str(rec.get("task", "")))
            row = rows.setdefault(key, {"model": key[0], "task": key[1]})
            split = str(rec["split"])
            if split in row:
                raise MMCLError(
                    f"{path}: model {key[0]!r} task {key[1]!r} has two accuracies on split "
                    f"{split!r}; a results file holds one per model, task and split"
                )
            row[split] = repr(float(rec["value"]))
    columns = list(dict.fromkeys(c for r in rows.values() for c in r))
    source = ", ".join(str(p) for p in paths)
    return Table(source, columns, list(rows.values()), "fraction")


def _model_label(record: dict) -> str:
    model = str(record["model"])
    return f"{model}@step {record['step']}" if "step" in record else model


def _accuracy_records(path: Path) -> list[dict]:
    """The accuracy records of one results.json or CLIP_benchmark output (attribute probes
    excluded), checked for the fields we need."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MMCLError(f"{path}: cannot read results.json ({e})") from e
    if is_clip_benchmark(doc):  # one CLIP_benchmark output
        records = from_clip_benchmark(doc, str(path))
    else:
        records = doc.get("records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise MMCLError(
            f"{path}: expected mmcl's {{'meta': ..., 'records': [...]}} or a CLIP_benchmark "
            "output ({'dataset', 'task', 'metrics', ...})"
        )
    out = [
        r
        for r in records
        if r.get("metric") == "accuracy" and "attribute" not in r and r.get("task") != ATTRIBUTES
    ]
    for r in out:
        missing = [k for k in ("model", "split", "value") if k not in r]
        if missing:
            raise MMCLError(f"{path}: an accuracy record lacks {missing}: {r}")
    return out


def _same(a: str, b: str) -> bool:
    """String equality, or numeric equality when both parse ('1' == '1.0')."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def row_mask(table: Table, where: dict[str, str], flag: str) -> list[bool]:
    """Which rows satisfy every column=value condition."""
    cols = {table.column(k, flag): v for k, v in where.items()}
    return [all(_same(r.get(c, ""), v) for c, v in cols.items()) for r in table.rows]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _ident_columns(table: Table, skip: set[str]) -> list[str]:
    """Non-numeric columns (names, tags), in table order."""
    return [
        c
        for c in table.columns
        if c not in skip and any(r.get(c) and not _is_number(r[c]) for r in table.rows)
    ]


def _label_columns(table: Table, ident: list[str]) -> list[str]:
    """The fewest leading identifying columns that make labels unique."""
    for k in range(1, len(ident) + 1):
        labels = ["/".join(r.get(c, "") for c in ident[:k]) for r in table.rows]
        if len(set(labels)) == len(labels):
            return ident[:k]
    return ident


def _accuracy_cell(table: Table, index: int, col: str) -> float:
    """Row `index`'s cell of `col` as a finite number; text or NaN is an MMCLError naming the
    file, line and column, so one bad cell is found without a traceback."""
    text = table.rows[index][col].strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise MMCLError(
            f"{table.source}: line {index + 2}, column {col!r} holds {text[:24]!r}, not an "
            "accuracy: write a number (fraction or %) or leave the cell empty"
        )
    return value


def _scale(table: Table, col: str) -> float:
    """Divisor turning the column into fractions (module docstring rule); every filled cell is
    checked to be a number here, before any point is read."""
    values = [
        _accuracy_cell(table, i, col) for i, r in enumerate(table.rows) if r.get(col, "").strip()
    ]
    if any(v < 0 or v > 100 for v in values):
        raise MMCLError(f"{table.source}: column {col!r} has accuracies outside [0, 100]")
    if table.unit == "percent":
        return 100.0
    if table.unit == "fraction":
        if any(v > 1 for v in values):
            raise MMCLError(
                f"{table.source}: column {col!r} has values > 1 but --fraction was given"
            )
        return 1.0
    return 100.0 if any(v > 1 for v in values) else 1.0


@dataclass
class PointSpec:
    """How to read points from one table."""

    id_name: str
    ood_names: list[str]
    columns: dict[str, str] = field(default_factory=dict)  # user name -> column override
    group_by: str | None = None


def table_points(
    table: Table, spec: PointSpec, baseline: list[bool], default_group: str
) -> list[ModelPoint]:
    """One ModelPoint per row with an ID accuracy; missing OOD cells become missing shifts."""
    flag = "--baseline-columns" if spec.columns else "--id/--ood"
    cols = {n: table.column(spec.columns.get(n, n), flag) for n in [spec.id_name, *spec.ood_names]}
    scales = {n: _scale(table, c) for n, c in cols.items()}
    group_col = table.column(spec.group_by, "--group-by") if spec.group_by else None
    ident = _ident_columns(table, set(cols.values()))
    label_cols = _label_columns(table, ident)
    points = []
    for row, is_base in zip(table.rows, baseline, strict=True):
        cells = {n: row.get(c, "").strip() for n, c in cols.items()}
        if not cells[spec.id_name]:
            continue
        ood = {n: float(cells[n]) / scales[n] for n in spec.ood_names if cells[n]}
        group = row.get(group_col, "") if group_col else ("baseline" if is_base else default_group)
        points.append(
            ModelPoint(
                label="/".join(row.get(c, "") for c in label_cols),
                id_acc=float(cells[spec.id_name]) / scales[spec.id_name],
                ood=ood,
                ident={c: row.get(c, "") for c in ident},
                group=group,
                baseline=is_base,
            )
        )
    return points


@dataclass
class InputConfig:
    """Everything the command line says about where accuracies and the baseline come from."""

    id_name: str
    ood_names: list[str]
    results: list[str] = field(default_factory=list)  # results.json paths
    tables: list[str] = field(default_factory=list)  # CSV paths
    baseline_table: str | None = None  # None: shipped testbed table when the ID set is ImageNet
    baseline_where: str | None = None  # "col=value[,...]"; without baseline_table: own rows
    baseline_columns: str | None = None  # "our name=baseline column,..."
    unit: str = "auto"  # for --table files: auto | percent | fraction
    group_by: str | None = None


@dataclass
class LoadedInputs:
    """Points ready for compute_robustness and a sentence saying where the baseline came from."""

    points: list[ModelPoint]
    baseline: str


def load_inputs(cfg: InputConfig) -> LoadedInputs:
    """Read every table and results file, mark baseline rows, add external baseline rows."""
    own = [read_csv_table(t, cfg.unit) for t in cfg.tables]
    if cfg.results:
        own.append(read_results_json(cfg.results))
    if not own:
        raise MMCLError("nothing to evaluate: give results.json files and/or --table CSV files")
    where = parse_pairs(cfg.baseline_where, "--baseline-where")
    external = _external_baseline(cfg, where)
    spec = PointSpec(cfg.id_name, cfg.ood_names, {}, cfg.group_by)
    points = []
    for table in own:
        mask = [False] * len(table.rows)
        if where and external is None:
            mask = row_mask(table, where, "--baseline-where")
        points += table_points(table, spec, mask, Path(table.source).stem)
    if external is None:
        if not any(p.baseline for p in points):
            raise MMCLError(f"--baseline-where {cfg.baseline_where!r} matched no row of the inputs")
        return LoadedInputs(_unique_labels(points), f"own rows with {where}")
    base, desc = _baseline_points(cfg, external, where)
    return LoadedInputs(_unique_labels(points + base), desc)


def _external_baseline(cfg: InputConfig, where: dict[str, str]) -> Path | None:
    """The baseline table to read, or None when the baseline is a subset of the inputs."""
    if cfg.baseline_table:
        return Path(cfg.baseline_table)
    if where:
        return None
    if shift_key(cfg.id_name) == "imagenet":
        return default_baseline_path()
    raise MMCLError(
        f"no baseline for ID set {cfg.id_name!r}: pass --baseline-table FILE, or "
        "--baseline-where 'column=value' to pick baseline rows among the inputs"
    )


def _baseline_points(
    cfg: InputConfig, path: Path, where: dict[str, str]
) -> tuple[list[ModelPoint], str]:
    """The filtered rows of an external baseline table, marked baseline and not reported."""
    if not path.is_file():
        raise MMCLError(f"--baseline-table: no such file {path}; give an existing CSV")
    table = read_csv_table(path)
    if not where and BASELINE_FLAG in table.columns:
        where = {BASELINE_FLAG: "1"}
    mask = row_mask(table, where, "--baseline-where")
    spec = PointSpec(
        cfg.id_name, cfg.ood_names, parse_pairs(cfg.baseline_columns, "--baseline-columns")
    )
    points = [p for p in table_points(table, spec, mask, "baseline") if p.baseline]
    if not points:
        raise MMCLError(f"--baseline-where {where} matched no row of {path}")
    for p in points:
        p.reported = False
    return points, f"{path.name} rows with {where or 'no filter (all rows)'}"


def _unique_labels(points: list[ModelPoint]) -> list[ModelPoint]:
    """Suffix repeated labels with #2, #3, ... so every model stays addressable."""
    seen: dict[str, int] = {}
    for p in points:
        seen[p.label] = seen.get(p.label, 0) + 1
        if seen[p.label] > 1:
            p.label = f"{p.label}#{seen[p.label]}"
    return points
