"""open_clip-style CSV/TSV: one row per image, an image-path column and a caption column.

Column names and the separator are this format's own options, `data.csv.*` (`CsvOptions`,
open_clip's `--csv-img-key`, `--csv-caption-key`, `--csv-separator`); relative image paths are
resolved against the CSV's folder. The file is read as `utf-8-sig` (Excel's BOM) with
`surrogateescape`, so a row with non-UTF-8 bytes in its caption or class (a latin-1 file's
accents) still parses and is one bad sample naming its line, column and the fix; a UTF-16 or
UTF-32 file (Excel's "Unicode text", found by its byte-order mark or its NUL bytes) would parse
as mojibake, and is refused whole, naming its encoding and the fix. With `data.csv.label_key`
set, a row whose class cell is empty is a bad sample naming the column.

No row is lost silently. A row with more or fewer fields than the header (an unquoted comma in
a caption) becomes a `Record` with `error` set, one bad sample naming its line. Quotes are parsed
strictly: a quote that is never closed, or one closed only lines later so that the lines wholly
inside it would each have made a row, is reported on the line where it opened, and parsing
resumes on the next line, so the rows it swallowed are read (text after a closing quote on the
same line, `"Mona Lisa" by Leonardo`, is read as pandas reads it). Every physical line is thus
accounted for: a row, a bad row, or a line break quoted inside a field. Fields may be longer
than csv's 128 KiB default.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mmcl.data.formats.readers import reader
from mmcl.data.formats.records import Record, RecordSet
from mmcl.errors import MMCLError

FIELD_SIZE_LIMIT = 2**31 - 1  # csv's limit is a C long; 128 KiB by default
# Byte-order marks of the encodings that are not UTF-8 (UTF-32 first: its LE mark starts
# with UTF-16's).
WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
RESAVE = "re-save it as UTF-8 (Excel: CSV UTF-8; or iconv -t UTF-8)"
SEPARATOR_ALIASES = {"\\t": "\t", "tab": "\t", "comma": ","}  # `\t` as typed in a shell


@dataclass(frozen=True)
class CsvOptions:
    """`data.csv.*`: which columns hold what, and the separator."""

    img_key: str = "filepath"  # open_clip's column names
    caption_key: str = "title"
    label_key: str = ""  # optional class-name column (labels for probes / supervised)
    separator: str = ","  # "\t" (or "tab") for TSV; a .tsv path sets tab unless one is chosen

    def __post_init__(self) -> None:
        object.__setattr__(self, "separator", SEPARATOR_ALIASES.get(self.separator, self.separator))

    def validate(self) -> None:
        if len(self.separator) != 1:
            raise MMCLError(
                f"config key 'data.csv.separator' = {self.separator!r} must be one character "
                "(use \\t or tab for TSV)"
            )


@dataclass(frozen=True)
class Row:
    """One parsed row: its fields, or `problem` when it cannot be used, and its first line."""

    line: int
    fields: list[str]
    problem: str = ""


def _check_columns(path: Path, header: list[str] | None, options: CsvOptions) -> None:
    wanted = {"data.csv.img_key": options.img_key, "data.csv.caption_key": options.caption_key}
    if options.label_key:
        wanted["data.csv.label_key"] = options.label_key
    missing = {key: col for key, col in wanted.items() if col not in (header or [])}
    if missing:
        sep = "tab" if options.separator == "\t" else repr(options.separator)
        raise MMCLError(
            f"{path}: missing column(s) {', '.join(map(repr, missing.values()))}; its header "
            f"(separator {sep}) has {header or 'nothing'}. Set "
            f"{', '.join(missing)} to the right column names, or data.csv.separator"
        )


def _looks_like_rows(lines: list[str], separator: str, width: int) -> bool:
    """Whether any of `lines`, parsed alone, has exactly `width` fields (a swallowed row)."""
    return any(len(fields) == width for fields in csv.reader(lines, delimiter=separator))


def _parse(lines: list[str], separator: str) -> Iterator[Row]:
    """Rows of `lines` (the file split at line ends), strictly quoted; see the module doc.

    The first non-blank row is the header. Blank lines are skipped, as csv.DictReader does.
    """
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    start, width = 0, 0
    while start < len(lines):
        reader = csv.reader(lines[start:], delimiter=separator, strict=True)
        first = start
        try:
            for fields in reader:
                end = start + reader.line_num  # lines[first:end] hold this row
                inside = lines[first + 1 : end - 1]  # lines wholly inside a quoted field
                if fields and width and inside and _looks_like_rows(inside, separator, width):
                    yield Row(first + 1, [], _swallowed(end))
                    start = first + 1
                    break
                if fields:
                    width = width or len(fields)
                    yield Row(first + 1, fields)
                first = end
            else:
                return
        except csv.Error as error:
            yield _lenient(lines[first], first + 1, separator, width) or Row(
                first + 1, [], _malformed(str(error))
            )
            start = first + 1


def _lenient(line: str, number: int, separator: str, width: int) -> Row | None:
    """`line` read as pandas reads it, if that gives a whole row on this line alone.

    `"Mona Lisa" by Leonardo` (text after a closing quote) is kept as one field, as pandas
    and open_clip read it; a quote left open at the line's end is not.
    """
    fields = next(csv.reader([line], delimiter=separator), [])
    if width and len(fields) == width and not any("\n" in f or "\r" in f for f in fields):
        return Row(number, fields)
    return None


def _swallowed(end: int) -> str:
    return (
        f"a quote opened on this line closes only on line {end}, swallowing the rows between; "
        'close it, or double a quote inside a quoted field ("")'
    )


def _malformed(error: str) -> str:
    """csv's complaint as a fix: "unexpected end of data" is a quote never closed."""
    if "end of data" in error:
        return f"a quote opened on this line is never closed ({error}); close it"
    return (
        f"malformed quotes on this line ({error}): a quoted field must end at its closing "
        'quote; double a quote inside it ("") or do not quote the field'
    )


def _text(path: Path) -> str:
    """The file as text; a UTF-16/32 file is an MMCLError naming its encoding and the fix."""
    data = path.read_bytes()
    wide = next((name for bom, name in WIDE_BOMS.items() if data.startswith(bom)), "")
    if not wide and b"\x00" in data[:4096]:
        wide = "UTF-16 or UTF-32 (NUL bytes, no byte-order mark)"
    if wide:
        raise MMCLError(f"{path}: its encoding is {wide}, not UTF-8: {RESAVE}")
    return data.decode("utf-8-sig", errors="surrogateescape")


def _rows(path: Path, separator: str) -> tuple[list[str], list[Row]]:
    """The header and the data rows, fields checked against the header's count."""
    text = _text(path)
    rows = _parse(list(io.StringIO(text, newline="")), separator)
    header = next(rows, None)
    if header is None or header.problem:
        return [], []
    checked = []
    for row in rows:
        if not row.problem and len(row.fields) != len(header.fields):
            sep = "tab" if separator == "\t" else repr(separator)
            problem = (
                f"row has {len(row.fields)} fields, the header has {len(header.fields)} "
                f"(an unquoted {sep} in a field? quote that field)"
            )
            row = Row(row.line, [], problem)
        checked.append(row)
    return header.fields, checked


def _cell_problem(row: Row, header: list[str], options: CsvOptions) -> str:
    """Why a well-formed row cannot be used: a caption or class cell with bytes that are not
    UTF-8 (an image path is bytes to the file system, other columns are not read), or (when
    labels are read) an empty class cell; "" when it can."""
    for name in filter(None, (options.caption_key, options.label_key)):
        try:
            row.fields[header.index(name)].encode("utf-8")
        except UnicodeEncodeError:
            return f"column {name!r} is not valid UTF-8: the file's encoding is not UTF-8; {RESAVE}"
    if options.label_key and not row.fields[header.index(options.label_key)].strip():
        return (
            f"empty class cell in column {options.label_key!r} (data.csv.label_key): fill "
            "it in, or drop the row"
        )
    return ""


@reader("csv", options=CsvOptions)
def read_csv(path: Path, options: CsvOptions) -> RecordSet:
    """One `Record` per data row (bad rows included, with `error`); `source` is `file:line`."""
    if path.is_dir():
        raise MMCLError(f"data.path={path} is a folder; data.format=csv needs the CSV/TSV file")
    header, rows = _rows(path, options.separator)
    _check_columns(path, header, options)
    if not rows:
        raise MMCLError(f"{path} has a header but no rows: expected one row per image")
    columns = {name: i for i, name in enumerate(header)}
    image_col, caption_col = columns[options.img_key], columns[options.caption_key]
    label_col = columns.get(options.label_key) if options.label_key else None
    problems = [row.problem or _cell_problem(row, header, options) for row in rows]
    labels = [
        row.fields[label_col] if label_col is not None and not problem else ""
        for row, problem in zip(rows, problems, strict=True)
    ]
    class_names = sorted({label for label in labels if label})
    label_ids = {name: i for i, name in enumerate(class_names)}
    records = []
    for row, label, problem in zip(rows, labels, problems, strict=True):
        source = f"{path.name}:{row.line}"
        if problem:
            records.append(Record(image="", source=source, error=problem))
            continue
        image = row.fields[image_col]
        records.append(
            Record(
                image=str(path.parent / image) if image else "",
                captions=(row.fields[caption_col],),
                label=label_ids.get(label, -1),
                source=source,
            )
        )
    return RecordSet(records, class_names, name=str(path))
