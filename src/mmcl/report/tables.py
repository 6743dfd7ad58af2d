"""The shift table: one row per model, its accuracy in-distribution and under each shift.

Each model is read through its *headline* task, the one that says what the model itself predicts:
zero-shot for a model with a text tower, its own classifier head for a supervised model. Which
task that is comes from the data, never from the model's name: a record may carry
`"headline": true`, otherwise the first task of `headline_tasks` that the model has records for.
Next to the headline accuracies the table shows the drop from the in-distribution split to each
shift (id minus shift, in points), the linear probe on the frozen features for every split, and
the attribute probes (how much of each generative factor the features still carry).

Cells hold percentages (accuracies in %, drops in percentage points) or None for a missing value,
so `dataclasses.asdict(table)` is already the JSON the CLI prints.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mmcl.errors import MMCLError

# The shapes world's splits in reading order; other splits follow alphabetically.
SPLIT_ORDER = ("id", "spurious_reversed", "sketch", "unseen_colors", "balanced")
HEADLINE_TASKS = ("zeroshot", "classifier")
PROBE_TASK = "linear_probe"
ATTRIBUTE_TASK = "attributes"
MISSING = "-"

Cell = float | str | None


@dataclass
class Column:
    """One table column.

    kind: how to print it: "text", "accuracy" (%), or "drop" (percentage points).
    group: what it holds: "task" (the headline task's name), "headline", "drop", "probe" or
    "attribute"; split: the split it is about ("" for "task").
    """

    name: str
    kind: str
    group: str
    split: str = ""


@dataclass
class Table:
    """Rows are model names; `cells[i][j]` is row i's value in column j (None when missing);
    drops are measured from `id_split`."""

    columns: list[Column]
    rows: list[str]
    cells: list[list[Cell]]
    id_split: str = "id"

    def column(self, name: str) -> list[Cell]:
        """All rows' values in the column called `name`."""
        names = [c.name for c in self.columns]
        if name not in names:
            raise MMCLError(f"the table has no column {name!r}; it has {names}")
        j = names.index(name)
        return [row[j] for row in self.cells]


def drop_column(split: str) -> str:
    return f"drop {split}"


def probe_column(split: str) -> str:
    return f"probe {split}"


def attribute_column(attribute: str, split: str, id_split: str) -> str:
    return f"attr {attribute}" if split == id_split else f"attr {attribute} ({split})"


def attribute_of(column: Column) -> str:
    """The attribute an attribute column is about (`attribute_column` read back)."""
    name = column.name.removeprefix("attr ")
    return name.removesuffix(f" ({column.split})")


def ordered_splits(splits: Iterable[str], id_split: str = "id") -> list[str]:
    """`id_split` first, then the known shifts in SPLIT_ORDER, then any others alphabetically."""
    known = [id_split] + [s for s in SPLIT_ORDER if s != id_split]
    present = set(splits)
    return [s for s in known if s in present] + sorted(present - set(known))


def is_accuracy(record: dict[str, Any]) -> bool:
    return record.get("metric") == "accuracy"


def attribute_metric(record: dict[str, Any]) -> tuple[str, str] | None:
    """(attribute, metric) of an attribute-task record, None for any other record.

    The `attributes` task writes `metric="accuracy"` (or `uniform_chance`, `n_values`, ...) with
    the attribute in its own `attribute` field; older records packed both as `NAME/metric`.
    """
    if record.get("task") != ATTRIBUTE_TASK:
        return None
    metric = str(record.get("metric", ""))
    if "attribute" in record:
        return str(record["attribute"]), metric
    name, _, tail = metric.rpartition("/")
    return (name, tail) if name else None


def attribute_accuracy(record: dict[str, Any]) -> tuple[str, float] | None:
    """(attribute, accuracy) of an attribute-probe record (see `attribute_metric`)."""
    found = attribute_metric(record)
    if found is None or found[1] != "accuracy":
        return None
    return found[0], float(record["value"])


def headline_tasks_by_model(
    records: Sequence[dict[str, Any]], headline_tasks: Sequence[str] = HEADLINE_TASKS
) -> dict[str, str]:
    """model -> its headline task: the task of a record marked `headline`, else by priority."""
    tasks: dict[str, set[str]] = {}
    marked: dict[str, set[str]] = {}
    for r in records:
        if is_accuracy(r):
            tasks.setdefault(r["model"], set()).add(r["task"])
            if r.get("headline"):
                marked.setdefault(r["model"], set()).add(r["task"])
    chosen = {}
    for model, have in tasks.items():
        if len(marked.get(model, ())) > 1:
            raise MMCLError(
                f"model {model!r} has records marked headline for several tasks "
                f"{sorted(marked[model])}; mark only one task per model"
            )
        if model in marked:
            chosen[model] = next(iter(marked[model]))
            continue
        first = next((t for t in headline_tasks if t in have), None)
        if first is not None:
            chosen[model] = first
    return chosen


def _lookup(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """(model, task, split) -> accuracy, and (model, "attr:NAME", split) for attribute probes."""
    values: dict[tuple[str, str, str], float] = {}
    for r in records:
        attr = attribute_accuracy(r)
        if attr is not None:
            key = (r["model"], f"attr:{attr[0]}", r["split"])
            value = attr[1]
        elif is_accuracy(r):
            key, value = (r["model"], r["task"], r["split"]), float(r["value"])
        else:
            continue
        if key in values and values[key] != value:
            raise MMCLError(
                f"two different accuracies ({values[key]} and {value}) for model {key[0]!r}, "
                f"{key[1]!r} on split {key[2]!r}; give the runs distinct model names"
            )
        values[key] = value
    return values


def _model_order(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["model"] for r in records))


def shift_table(
    records: Sequence[dict[str, Any]],
    id_split: str = "id",
    headline_tasks: Sequence[str] = HEADLINE_TASKS,
) -> Table:
    """The shift table of `records` (see the module docstring for its columns)."""
    headline = headline_tasks_by_model(records, headline_tasks)
    values = _lookup(records)
    head_splits = ordered_splits({s for (m, t, s) in values if headline.get(m) == t}, id_split)
    probe_splits = ordered_splits({s for (_, t, s) in values if t == PROBE_TASK}, id_split)
    attrs = sorted(
        {(t[5:], s) for (_, t, s) in values if t.startswith("attr:")},
        key=lambda a: (a[1] != id_split, a[1], a[0]),
    )
    shifts = [s for s in head_splits if s != id_split]
    columns = [Column("headline", "text", "task")]
    columns += [Column(s, "accuracy", "headline", s) for s in head_splits]
    columns += [Column(drop_column(s), "drop", "drop", s) for s in shifts]
    columns += [Column(probe_column(s), "accuracy", "probe", s) for s in probe_splits]
    columns += [
        Column(attribute_column(a, s, id_split), "accuracy", "attribute", s) for a, s in attrs
    ]
    rows = _model_order(records)
    cells = []
    for model in rows:
        task = headline.get(model)
        acc = {s: values.get((model, task, s)) for s in head_splits} if task else {}
        row: list[Cell] = [task]
        row += [_pct(acc.get(s)) for s in head_splits]
        row += [_drop(acc.get(id_split), acc.get(s)) for s in shifts]
        row += [_pct(values.get((model, PROBE_TASK, s))) for s in probe_splits]
        row += [_pct(values.get((model, f"attr:{a}", s))) for a, s in attrs]
        cells.append(row)
    return Table(columns=columns, rows=rows, cells=cells, id_split=id_split)


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _drop(id_value: float | None, shift_value: float | None) -> float | None:
    """id minus shift in percentage points; positive means the shift costs accuracy."""
    if id_value is None or shift_value is None:
        return None
    return 100.0 * (id_value - shift_value)


def format_cell(value: Cell, kind: str) -> str:
    """One cell as text: '-' when missing, accuracies and drops with one decimal. A drop is
    positive when the shift scores lower (no '+': "+89.8" would read as a gain)."""
    if value is None:
        return MISSING
    if kind == "text":
        return str(value)
    return f"{value:.1f}"


def format_text(table: Table) -> str:
    """A fixed-width table for the terminal; accuracies in %, drops in points (id - shift)."""
    header = ["model"] + [c.name for c in table.columns]
    body = [
        [model] + [format_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)]
        for model, row in zip(table.rows, table.cells, strict=True)
    ]
    widths = [max(len(r[j]) for r in [header, *body]) for j in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])


# The HTML table comes in blocks, each narrow enough for a page (a run on the shapes world has
# 4 splits and 7 attributes: 21 columns in one row would be twice a 1280 px window).
HTML_BLOCKS = (("task", "headline", "drop"), ("probe",), ("attribute",))
GROUP_TITLES = {
    "headline": "accuracy (%)",
    "drop": "drop: {id} - shift (points)",
    "probe": "linear probe on frozen features (%)",
    "attribute": "attribute probes (%)",
}


def format_html(table: Table) -> str:
    """The table as HTML blocks (headline accuracies and drops; linear probes; attribute
    probes), each a <table> with the models down the side and group titles over the split or
    attribute names, in its own scrolling box; missing cells show '-', drops carry a class."""
    blocks = []
    for groups in HTML_BLOCKS:
        picked = [j for j, c in enumerate(table.columns) if c.group in groups]
        if any(table.columns[j].group != "task" for j in picked):
            blocks.append(_block_html(table, picked))
    return "\n".join(blocks)


def _block_html(table: Table, picked: list[int]) -> str:
    columns = [table.columns[j] for j in picked]
    top = ["<th class='model' rowspan='2'>model</th>"]
    for (group, split), run in itertools.groupby(columns, key=_title_key):
        if group == "task":
            top.append("<th rowspan='2'>headline task</th>")
            continue
        title = GROUP_TITLES[group].format(id=table.id_split) + (f" on {split}" if split else "")
        top.append(f"<th colspan='{len(list(run))}'>{_breakable(title)}</th>")
    names = "".join(f"<th>{_breakable(_short_name(c))}</th>" for c in columns if c.group != "task")
    parts = [
        "<div class='scroll'><table class='mmcl-shift'>",
        f"<tr>{''.join(top)}</tr>",
        f"<tr>{names}</tr>",
    ]
    for model, row in zip(table.rows, table.cells, strict=True):
        tds = "".join(
            f"<td class='{c.kind}'>{html.escape(format_cell(row[j], c.kind))}</td>"
            for j, c in zip(picked, columns, strict=True)
        )
        parts.append(f"<tr><th class='model'>{html.escape(model)}</th>{tds}</tr>")
    parts.append("</table></div>")
    return "\n".join(parts)


def _title_key(column: Column) -> tuple[str, str]:
    """Columns under one title: a group, and for attribute probes the split they were read on."""
    return column.group, column.split if column.group == "attribute" else ""


def _short_name(column: Column) -> str:
    """The name under the group's title: the split, or the attribute."""
    if column.group == "attribute":
        return attribute_of(column)
    return column.split


def _breakable(text: str) -> str:
    """Escaped text that may wrap after an underscore (long split names stay in narrow columns)."""
    return html.escape(text).replace("_", "_<wbr>")
