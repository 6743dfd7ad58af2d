"""Readers never lose rows silently: every malformed row, value or shard is a named bad sample
(with its line or key) or a schema error naming the culprit, and the record counts add up."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from mmcl.cli import main
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.csv_captions import CsvOptions
from mmcl.data.formats.images import decode_image
from mmcl.data.formats.readers import read_records
from mmcl.data.formats.webdataset_shards import (
    TruncatedShard,
    count_samples,
    index_shards,
    iter_samples,
)
from mmcl.data.record_dataset import BatchEncoder
from mmcl.data.stream_dataset import ShardStream, first_samples
from mmcl.errors import MMCLError
from mmcl.models.tokenizer import Tokenizer

SIZE = 16
WHITE = (255, 255, 255, 255)


def _rgb(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(
        2, 0, 1
    )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def gray() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (SIZE, SIZE), dtype=np.uint8)


def test_16_bit_png_decodes_like_its_8_bit_source(gray):
    wide = Image.fromarray(gray.astype(np.uint16) * 257)  # 16-bit: v -> v * 257 spans 0..65535
    encoded = _png(wide)
    assert Image.open(io.BytesIO(encoded)).mode.startswith("I")
    expected = _rgb(Image.fromarray(gray))  # Pillow's own L -> RGB
    assert torch.equal(decode_image(encoded, SIZE), expected)


def test_32_bit_int_image_with_16_bit_values_decodes_like_its_8_bit_source(gray):
    wide = Image.fromarray(gray.astype(np.int32) * 257, mode="I")
    buffer = io.BytesIO()
    wide.save(buffer, format="TIFF")
    assert torch.equal(decode_image(buffer.getvalue(), SIZE), _rgb(Image.fromarray(gray)))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_pixels_are_composited_on_white(gray, mode):
    rgba = Image.fromarray(np.stack([gray, 255 - gray, gray // 2, gray], axis=-1), mode="RGBA")
    image = rgba.convert(mode)
    expected = Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image.convert("RGBA"))
    assert torch.equal(decode_image(_png(image), SIZE), _rgb(expected))


def test_palette_transparency_is_composited_on_white(gray):
    image = Image.fromarray(gray).convert("P")
    image.info["transparency"] = int(gray[0, 0])
    encoded = _png(image)
    reopened = Image.open(io.BytesIO(encoded))
    expected = Image.alpha_composite(
        Image.new("RGBA", reopened.size, WHITE), reopened.convert("RGBA")
    )
    assert torch.equal(decode_image(encoded, SIZE), _rgb(expected))


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "YCbCr"])
def test_opaque_modes_decode_as_pillow_converts_them(gray, mode):
    image = Image.fromarray(np.stack([gray, 255 - gray, gray // 2], axis=-1)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode in ("CMYK", "YCbCr") else "PNG")
    reopened = Image.open(io.BytesIO(buffer.getvalue()))
    assert torch.equal(decode_image(buffer.getvalue(), SIZE), _rgb(reopened))


# ---- CSV -----------------------------------------------------------------------------------


def _write_csv(tmp_path, rows: list[str], name: str = "t.csv", prefix: bytes = b"") -> object:
    Image.new("RGB", (SIZE, SIZE), (255, 0, 0)).save(tmp_path / "a.png")
    path = tmp_path / name
    path.write_bytes(prefix + ("\n".join(["filepath,title,label", *rows]) + "\n").encode())
    return path


def _rows(n: int) -> list[str]:
    return [f"a.png,a red shape {i},class{i % 10}" for i in range(n)]


def _bad(records) -> dict[str, str]:
    return {r.source: r.error for r in records.records if r.error}


@pytest.mark.parametrize(
    ("row", "fields"),
    [("a.png,a red, round shape,class1", "4 fields"), ("a.png,a red shape", "2 fields")],
)
def test_csv_row_with_extra_or_missing_fields_is_a_bad_row_naming_its_line(tmp_path, row, fields):
    rows = _rows(20)
    rows[4] = row
    records = read_records("csv", _write_csv(tmp_path, rows), CsvOptions(label_key="label"))
    assert len(records) == 20
    bad = _bad(records)
    assert list(bad) == ["t.csv:6"] and fields in bad["t.csv:6"] and "3" in bad["t.csv:6"]
    assert len(records.class_names) == 10  # no bogus class from the shifted column


def test_csv_unclosed_quote_is_reported_and_rows_after_it_are_kept(tmp_path):
    rows = _rows(100)
    rows[44] = 'a.png,"a red shape 44,class4'  # the quote is never closed
    records = read_records("csv", _write_csv(tmp_path, rows))
    assert len(records) == 100
    bad = _bad(records)
    assert list(bad) == ["t.csv:46"] and "quote" in bad["t.csv:46"]
    assert records.records[45].captions == ("a red shape 45",)


def test_csv_quote_closed_rows_later_is_reported_as_swallowing_them(tmp_path):
    rows = _rows(100)
    rows[44] = 'a.png,"a red shape 44,class4'
    rows[59] = 'a.png,size 12",class9'  # closes the quote: strict CSV accepts the 15-line field
    records = read_records("csv", _write_csv(tmp_path, rows))
    bad = _bad(records)
    assert list(bad) == ["t.csv:46"] and "61" in bad["t.csv:46"] and "quote" in bad["t.csv:46"]
    assert len(records) == 100  # the swallowed rows are read again, each on its own
    assert records.records[45].captions == ("a red shape 45",)


def test_csv_with_utf8_bom_loads(tmp_path):
    records = read_records("csv", _write_csv(tmp_path, _rows(3), prefix=b"\xef\xbb\xbf"))
    assert len(records) == 3 and not _bad(records)
    assert records.records[0].image.endswith("a.png")


def test_csv_field_over_128_kib_is_read_whole(tmp_path):
    long = "x" * (200 * 1024)
    records = read_records("csv", _write_csv(tmp_path, [f"a.png,{long},c", *_rows(2)]))
    assert len(records) == 3 and records.records[0].captions == (long,)


def test_data_inspect_shows_a_non_utf8_caption_as_a_bad_sample(tmp_path, capsys):
    path = tmp_path / "c.csv"
    _write_csv(tmp_path, [])
    path.write_bytes(b"filepath,title\na.png,caf\xe9 \xff\na.png,a red shape\n")
    out = tmp_path / "grid.png"
    assert main(["data", "inspect", str(path), "--format", "csv", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "c.csv:2" in printed.out and "Traceback" not in printed.err
    assert out.is_file()


# ---- COCO ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("42", "a JSON object"),
        ('{"images": [{"id": 1, "file_name": "a.png"}], "annotations": null}', "'annotations'"),
        ('{"images": {"id": 1}, "annotations": []}', "'images'"),
        ('{"images": [{"id": 1, "file_name": null}], "annotations": []}', "file_name"),
    ],
)
def test_malformed_coco_json_is_a_schema_error_naming_the_culprit(tmp_path, content, named):
    path = tmp_path / "captions_x.json"
    path.write_text(content)
    with pytest.raises(MMCLError, match=f"captions_x.json.*{named}"):
        read_records("coco", path)


def test_coco_caption_that_is_not_text_leaves_the_image_without_it(tmp_path):
    path = tmp_path / "captions_x.json"
    images = [{"id": 1, "file_name": "a.png"}]
    annotations = [{"image_id": 1, "caption": None}, {"image_id": 1, "caption": "a red shape"}]
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    (tmp_path / "a.png").write_bytes(_png(Image.new("RGB", (SIZE, SIZE))))
    (records,) = read_records("coco", path).records
    assert records.captions == ("a red shape",)


# ---- webdataset ----------------------------------------------------------------------------


def _shard(tmp_path, members: list[list[tuple[str, bytes]]]) -> str:
    path = tmp_path / "s-0.tar"
    png = _png(Image.new("RGB", (SIZE, SIZE), (255, 0, 0)))
    with tarfile.open(path, "w") as tar:
        for i, extra in enumerate(members):
            for ext, data in [("png", png), *extra]:
                info = tarfile.TarInfo(f"{i:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_malformed_webdataset_json_is_a_bad_sample_naming_it(tmp_path):
    good = [("json", json.dumps({"caption": "a red square", "label": 1}).encode())]
    path = _shard(
        tmp_path,
        [
            good,
            [("json", json.dumps({"caption": "red", "label": None}).encode())],
            [("json", b"[1, 2]")],
            good,
        ],
    )
    stream = ShardStream(index_shards([path]), BatchEncoder(SIZE, Tokenizer(16)), 4, buffer=1)
    (loaded,) = list(stream)
    reasons = {e.source: e.reason for e in loaded.bad}
    assert list(reasons) == ["s-0.tar:0001", "s-0.tar:0002"]
    assert "label" in reasons["s-0.tar:0001"] and "object" in reasons["s-0.tar:0002"]
    bad = BadDataLog(1.0)
    images, _, labels = first_samples(index_shards([path]), SIZE, None, bad)
    assert (len(images), bad.bad, labels) == (2, 2, [1, 1])


def test_truncated_shard_is_refused_by_scan_and_stream_at_the_same_sample(tmp_path):
    path = _shard(tmp_path, [[("txt", f"caption {i}".encode())] for i in range(4)])
    with open(path, "rb") as handle:
        data = handle.read()
    for cut in range(0, 4 * 2048 + 1024, 64):
        with open(path, "wb") as handle:
            handle.write(data[:cut])
        with pytest.raises(TruncatedShard) as scanned:
            count_samples(path)
        streamed = []
        with pytest.raises(TruncatedShard) as stopped:
            streamed += iter_samples(path)
        assert all(s.captions() for s in streamed), cut  # no sample lost its caption silently
        assert scanned.value.detail.endswith(f"after {len(streamed)} complete samples"), cut
        assert stopped.value.detail.endswith(f"after {len(streamed)} complete samples"), cut


def test_csv_caption_with_quoted_line_breaks_is_one_good_row(tmp_path):
    rows = ['a.png,"first line, with a comma\nsecond\nthird, and, more",class1', *_rows(3)]
    records = read_records("csv", _write_csv(tmp_path, rows))
    assert len(records) == 4 and not _bad(records)
    assert records.records[0].captions == ("first line, with a comma\nsecond\nthird, and, more",)
    assert records.records[1].source == "t.csv:5"


def test_csv_text_after_a_closing_quote_is_read_as_pandas_reads_it(tmp_path):
    rows = [*_rows(3), 'a.png,"Mona Lisa" by Leonardo,class1', 'a.png,12" record,class2']
    records = read_records("csv", _write_csv(tmp_path, rows))
    assert len(records) == 5 and not _bad(records)
    assert [r.captions[0] for r in records.records[3:]] == ["Mona Lisa by Leonardo", '12" record']
