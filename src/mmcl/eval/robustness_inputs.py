"""Inputs of effective robustness: CSV tables of published results, mmcl results.json files and
CLIP_benchmark's outputs (its JSON files and its ``build`` table; ``robustness_records``).

All become a ``Table`` of string rows, then ``ModelPoint``s (accuracies as fractions) keyed by the
shift names the user passed in ``--ood``, so a baseline table with other column names lines up.
Nothing is left out silently: every file, row or record that gives no point is a ``Skip`` with
its reason and, where there is one, the fix (``LoadedInputs.skipped``).

- Aliases (``--alias OLD=NEW``, ``--alias-file``) rename the datasets/splits of the inputs (the
  columns of a wide CSV) before anything is matched; they match names exactly, once (no chains),
  and not the external baseline table (``--baseline-columns`` maps that one). An alias that
  matches nothing is a note; when none matches, the run stops (the flag did nothing).
- A ``--table`` CSV whose columns include ``dataset``, ``model``, ``pretrained`` and ``task`` is
  CLIP_benchmark's long build table: it is pivoted as its JSON files are (fractions).
- Column names match exactly, else by ``shift_key``: lowercase, drop CLIP_benchmark's ``wds/``
  prefix and everything but letters and digits, then a few aliases ("ImageNet 1k" -> imagenet).
  So "ImageNet v2", "imagenet_v2" and "imagenet-v2" are one column; ``--baseline-columns``
  overrides the match.
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
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mmcl.config import parse_pairs
from mmcl.errors import MMCLError
from mmcl.eval.robustness import ModelPoint
from mmcl.eval.robustness_records import (
    Aliases,
    Batch,
    Skip,
    build_table_batches,
    is_build_table,
    merge_skips,
    parse_aliases,
    pivot,
    results_file,
    sources_text,
)

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
OWN_COLUMNS = "--id/--ood"  # the flag naming the columns of the user's own inputs
BASELINE_ROW = "baseline row"  # how a skip names a row chosen for the baseline


def shift_key(name: str) -> str:
    """A spelling-independent key for a dataset/column name."""
    key = re.sub(r"[^a-z0-9]", "", re.sub(r"^wds/", "", name.lower()))
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
    origins: list[str] = field(default_factory=list)  # where each row came from, for messages
    skipped: list[Skip] = field(default_factory=list)  # what reading left out, and why

    def origin(self, index: int) -> str:
        """Where row `index` came from: its files, or its line of the CSV."""
        return self.origins[index] if self.origins else f"{self.source} line {index + 2}"

    def column(self, name: str, flag: str) -> str:
        """The column matching ``name`` exactly or by shift_key, else an MMCLError with a hint."""
        if name in self.columns:
            return name
        hits = [c for c in self.columns if shift_key(c) == shift_key(name)]
        if len(hits) == 1:
            return hits[0]
        close = difflib.get_close_matches(name, self.columns, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if flag == OWN_COLUMNS:
            guess = alias_guess(name, self.columns) or "NAME"
            hint += f"; or rename one with --alias {guess}={name}"
        raise MMCLError(
            f"{flag}: column {name!r} not found in {self.source}{hint} "
            f"(available: {', '.join(self.columns)})"
        )


def alias_guess(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate a user most likely means by `name` (for an --alias hint): one whose key
    ends with `name`'s ('wds/shapes_id' for 'id'), else the closest spelling, else None."""
    key = shift_key(name)
    ends = [c for c in candidates if shift_key(c).endswith(key) and shift_key(c) != key]
    if len(ends) == 1:
        return ends[0]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.3)
    return close[0] if close else None


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


def read_table(path: str | Path, unit: str = "auto", aliases: Aliases | None = None) -> Table:
    """A --table CSV: CLIP_benchmark's long build table is pivoted as its JSON files are (its
    values are fractions); a wide table has its columns renamed by the aliases."""
    aliases = aliases or Aliases()
    table = read_csv_table(path, unit)
    if is_build_table(table.columns):
        batches, skipped = build_table_batches(Path(path), table.columns, table.rows, aliases)
        return _pivot_table(table.source, batches, skipped)
    renamed = [aliases.rename(c) for c in table.columns]
    twice = sorted({n for c, n in zip(table.columns, renamed, strict=True)
                    if n != c and renamed.count(n) > 1})  # fmt: skip
    if twice:
        raise MMCLError(
            f"--alias: {path} would have two columns named {twice[0]!r} (one renamed onto "
            "another); rename only one of them"
        )
    names = dict(zip(table.columns, renamed, strict=True))
    table.rows = [{names.get(k, k): v for k, v in r.items()} for r in table.rows]
    table.columns = renamed
    return table


def read_results_json(paths: Sequence[str | Path], aliases: Aliases | None = None) -> Table:
    """Pivot accuracy records into one row per (model, task) with one column per split.

    Attribute probes are not a model's prediction and are left out (a skip). A record scored
    at a kept checkpoint becomes `model@step N`. Files may split one model's splits between
    them (as CLIP_benchmark writes one file per dataset); a model whose split is scored in
    several files is told apart by its folder, `model [folder]`, as `mmcl report` does.
    """
    aliases = aliases or Aliases()
    batches: list[Batch] = []
    skipped: list[Skip] = []
    for path in map(Path, paths):
        if any(b.file == path for b in batches):
            skipped.append(Skip(str(path), "", "given twice; read once"))
            continue
        batch, skips = results_file(path, aliases)
        batches.append(batch)
        skipped += skips
    return _pivot_table(sources_text([str(p) for p in paths]), batches, skipped)


def _pivot_table(source: str, batches: Sequence[Batch], skipped: list[Skip]) -> Table:
    rows = pivot(batches)
    return Table(source, rows.columns, rows.rows, "fraction", rows.origins, skipped)


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
    table: Table,
    spec: PointSpec,
    baseline: list[bool],
    default_group: str,
    flag: str = OWN_COLUMNS,
) -> tuple[list[ModelPoint], list[Skip]]:
    """One ModelPoint per row with an ID accuracy (missing OOD cells become missing shifts), and
    one skip per row without, naming the datasets it has and the alias that would place it;
    `flag` is what a column error names (the baseline table's columns: --baseline-columns)."""
    cols = {n: table.column(spec.columns.get(n, n), flag) for n in [spec.id_name, *spec.ood_names]}
    scales = {n: _scale(table, c) for n, c in cols.items()}
    group_col = table.column(spec.group_by, "--group-by") if spec.group_by else None
    ident = _ident_columns(table, set(cols.values()))
    label_cols = _label_columns(table, ident)
    points, skips = [], []
    for i, (row, is_base) in enumerate(zip(table.rows, baseline, strict=True)):
        label = "/".join(row.get(c, "") for c in label_cols)
        cells = {n: row.get(c, "").strip() for n, c in cols.items()}
        if not cells[spec.id_name]:
            what = f"{BASELINE_ROW if is_base else 'model'} {label!r}"
            skips.append(Skip(table.origin(i), what, _no_id(row, ident, cols, spec.id_name)))
            continue
        ood = {n: float(cells[n]) / scales[n] for n in spec.ood_names if cells[n]}
        group = row.get(group_col, "") if group_col else ("baseline" if is_base else default_group)
        points.append(
            ModelPoint(
                label=label,
                id_acc=float(cells[spec.id_name]) / scales[spec.id_name],
                ood=ood,
                ident={c: row.get(c, "") for c in ident},
                group=group,
                baseline=is_base,
                source=table.origin(i),
            )
        )
    return points, skips


def _no_id(row: dict[str, str], ident: list[str], cols: dict[str, str], id_name: str) -> str:
    """Why a row has no point: no ID accuracy; the datasets it has, and the alias to try."""
    id_col = cols[id_name]
    has = [c for c, v in row.items() if c not in ident and v and v.strip()]
    listed = f" (its datasets: {', '.join(has)})" if has else ""
    reason = f"no accuracy on the ID split {id_col!r}{listed}"
    others = [c for c in has if c not in cols.values()]
    guess = alias_guess(id_name, others)
    if guess:
        return f"{reason}; map with --alias {guess}={id_col}"
    if others:
        return f"{reason}; if one of them is the ID split, map it with --alias NAME={id_col}"
    return f"{reason}; a model needs an ID accuracy to be placed"


@dataclass
class InputConfig:
    """Everything the command line says about where accuracies and the baseline come from."""

    id_name: str
    ood_names: list[str]
    results: list[str] = field(default_factory=list)  # results.json / CLIP_benchmark JSON paths
    tables: list[str] = field(default_factory=list)  # CSV paths (wide, or CLIP_benchmark build)
    baseline_table: str | None = None  # None: shipped testbed table when the ID set is ImageNet
    baseline_where: str | None = None  # "col=value[,...]"; without baseline_table: own rows
    baseline_columns: str | None = None  # "our name=baseline column,..."
    unit: str = "auto"  # for wide --table files: auto | percent | fraction
    group_by: str | None = None
    aliases: list[str] = field(default_factory=list)  # each "OLD=NEW[,OLD=NEW]" (--alias)
    alias_file: str | None = None  # YAML/JSON mapping OLD: NEW (--alias-file)


@dataclass
class LoadedInputs:
    """Points ready for compute_robustness, a sentence saying where the baseline came from, what
    was left out (one skip per file, model or row, with why) and notes on the reading."""

    points: list[ModelPoint]
    baseline: str
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_inputs(cfg: InputConfig) -> LoadedInputs:
    """Read every table and results file, mark baseline rows, add external baseline rows."""
    aliases = parse_aliases(cfg.aliases, cfg.alias_file)
    own = [read_table(t, cfg.unit, aliases) for t in cfg.tables]
    if cfg.results:
        own.append(read_results_json(cfg.results, aliases))
    if not own:
        raise MMCLError("nothing to evaluate: give results.json files and/or --table CSV files")
    notes = aliases.unused_notes()
    where = parse_pairs(cfg.baseline_where, "--baseline-where")
    external = _external_baseline(cfg, where)
    spec = PointSpec(cfg.id_name, cfg.ood_names, {}, cfg.group_by)
    points, skipped = [], [s for t in own for s in t.skipped]
    for table in (t for t in own if t.rows):
        mask = [False] * len(table.rows)
        if where and external is None:
            mask = row_mask(table, where, "--baseline-where")
        found, skips = table_points(table, spec, mask, Path(table.source).stem)
        points, skipped = points + found, skipped + skips
    skipped = merge_skips(skipped)
    if not points:
        raise MMCLError(_nothing_placed(cfg.id_name, skipped))
    if external is None:
        if not any(p.baseline for p in points):
            raise MMCLError(_no_baseline(cfg.baseline_where, skipped))
        return LoadedInputs(_unique_labels(points, notes), f"own rows with {where}", skipped, notes)
    base, desc = _baseline_points(cfg, external, where, notes)
    return LoadedInputs(_unique_labels(points + base, notes), desc, skipped, notes)


def _nothing_placed(id_name: str, skipped: Sequence[Skip]) -> str:
    """The error when no input gives a point: how many were left out, and the first reason."""
    if not skipped:
        return f"no input has an accuracy on the ID split {id_name!r}"
    return (
        f"no input has an accuracy on the ID split {id_name!r}: all {len(skipped)} left out; "
        f"the first: {skipped[0].line()}"
    )


def _no_baseline(where: str | None, skipped: Sequence[Skip]) -> str:
    """The error when --baseline-where picks no point, naming the rows it picked but left out."""
    text = f"--baseline-where {where!r} matched no row of the inputs"
    left = [s for s in skipped if s.what.startswith(BASELINE_ROW)]
    if not left:
        return text
    return f"{text}; {len(left)} matching row(s) were left out, the first: {left[0].line()}"


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
    cfg: InputConfig, path: Path, where: dict[str, str], notes: list[str]
) -> tuple[list[ModelPoint], str]:
    """The filtered rows of an external baseline table, marked baseline and not reported; a note
    counts the rows the filter left out, and one per chosen row without an ID accuracy."""
    if not path.is_file():
        raise MMCLError(f"--baseline-table: no such file {path}; give an existing CSV")
    table = read_csv_table(path)
    if not where and BASELINE_FLAG in table.columns:
        where = {BASELINE_FLAG: "1"}
    mask = row_mask(table, where, "--baseline-where")
    spec = PointSpec(
        cfg.id_name, cfg.ood_names, parse_pairs(cfg.baseline_columns, "--baseline-columns")
    )
    found, skips = table_points(table, spec, mask, "baseline", "--baseline-columns")
    points = [p for p in found if p.baseline]
    if not points:
        raise MMCLError(f"--baseline-where {where} matched no row of {path}")
    left = len(mask) - sum(mask)
    if left:
        notes.append(f"{path}: {left} of {len(mask)} rows are not baseline rows ({where}), unused")
    notes += [f"baseline table {s.line()}" for s in skips if s.what.startswith(BASELINE_ROW)]
    for p in points:
        p.reported = False
    return points, f"{path.name} rows with {where or 'no filter (all rows)'}"


def _unique_labels(points: list[ModelPoint], notes: list[str]) -> list[ModelPoint]:
    """Suffix repeated labels with #2, #3, ... so every model stays addressable; a note names
    each repeated label's sources, so two copies of one model are seen, not averaged away."""
    seen: dict[str, list[ModelPoint]] = {}
    for p in points:
        same = seen.setdefault(p.label, [])
        same.append(p)
        if len(same) > 1:
            p.label = f"{p.label}#{len(same)}"
    for label, same in seen.items():
        if len(same) > 1:
            sources = sources_text([p.source for p in same])
            notes.append(f"{len(same)} rows are labelled {label!r} ({sources}): "
                         f"shown as {', '.join(repr(p.label) for p in same)}")  # fmt: skip
    return points
