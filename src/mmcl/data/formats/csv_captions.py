"""open_clip-style CSV/TSV: one row per image, an image-path column and a caption column.

Column names and the separator are configurable (open_clip's `--csv-img-key`,
`--csv-caption-key`, `--csv-separator`); relative image paths are resolved against the CSV's
folder. The file is read with `surrogateescape`, so a row with non-UTF-8 bytes still parses and
its caption is rejected later as one bad sample naming its line, instead of failing the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mmcl.data.formats.readers import READERS, ReaderOptions
from mmcl.data.formats.records import Record, RecordSet
from mmcl.errors import MMCLError


def _check_columns(path: Path, header: list[str] | None, options: ReaderOptions) -> None:
    wanted = {
        "data.csv_img_key": options.csv_img_key,
        "data.csv_caption_key": options.csv_caption_key,
    }
    if options.csv_label_key:
        wanted["data.csv_label_key"] = options.csv_label_key
    missing = {key: col for key, col in wanted.items() if col not in (header or [])}
    if missing:
        sep = "tab" if options.csv_separator == "\t" else repr(options.csv_separator)
        raise MMCLError(
            f"{path}: missing column(s) {', '.join(map(repr, missing.values()))}; its header "
            f"(separator {sep}) has {header or 'nothing'}. Set "
            f"{', '.join(missing)} to the right column names, or data.csv_separator"
        )


@READERS.register("csv")
def read_csv(path: Path, options: ReaderOptions) -> RecordSet:
    """One `Record` per data row; `source` is `file:line`."""
    if path.is_dir():
        raise MMCLError(f"data.path={path} is a folder; data.format=csv needs the CSV/TSV file")
    rows: list[tuple[str, str, str, int]] = []
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle, delimiter=options.csv_separator)
        _check_columns(path, reader.fieldnames, options)
        for row in reader:
            label = (row.get(options.csv_label_key) or "") if options.csv_label_key else ""
            image = row.get(options.csv_img_key) or ""
            rows.append((image, row.get(options.csv_caption_key) or "", label, reader.line_num))
    if not rows:
        raise MMCLError(f"{path} has a header but no rows: expected one row per image")
    class_names = sorted({label for *_, label, _ in rows if label})
    label_ids = {name: i for i, name in enumerate(class_names)}
    records = [
        Record(
            image=str(path.parent / image) if image else "",
            captions=(caption,),
            label=label_ids.get(label, -1),
            source=f"{path.name}:{line}",
        )
        for image, caption, label, line in rows
    ]
    return RecordSet(records, class_names, name=str(path))
