"""One rule for bad data: `mmcl data check` and training judge every kind of bad input alike.

Each kind is a tiny dataset built into tmp_path. `mmcl data check` reads it through the CLI;
training's verdict comes from the trainer's own data path (`load_train_source`,
`training_dataset`, `epoch_batches` for a few epochs with the run's `BadDataLog`, the method's
losses on every batch), which is where a run meets its data, without the optimizer steps; a few
kinds also go through the real `mmcl train`. Check exits 2 exactly when training refuses, and
both name the same file, row, key or field, and the fix, in one line.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

from mmcl.cli import main
from mmcl.config import load_config
from mmcl.data.formats.images import to_tensor
from mmcl.data.sources import load_train_source
from mmcl.data.stream_dataset import ShardStream
from mmcl.data.world_dataset import normalize
from mmcl.errors import MMCLError
from mmcl.methods.base import build_method
from mmcl.train.config import RunConfig
from mmcl.train.data import bad_data_log, data_info, epoch_batches, training_dataset
from mmcl.train.sampler import ResumableBatchSampler

from ..conftest import TINY

SIZE = 16  # px: images are written at the size training reads, so nothing is resampled
N = 16  # samples in most kinds: four batches of BATCH
BATCH = 4
MODEL = [item for item in TINY if item.startswith("model.")]  # the suite's tiny model
HALF = SIZE // 2
CORNERS = ((0, 0), (HALF, 0), (0, HALF), (HALF, HALF))  # top-left, top-right, bottom-left, ...
QUADRANTS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255))  # their colours
# The transpose that stores an upright picture under EXIF orientation o (the inverse of the
# one a viewer applies).
STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Batches of four 16 px images: torch's thread pool costs more than it saves, and much
    more on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- files -----------------------------------------------------------------------------------


def upright() -> Image.Image:
    """A 16 px picture whose four quadrants differ, so every flip and turn shows."""
    image = Image.new("RGB", (SIZE, SIZE))
    for (x, y), colour in zip(CORNERS, QUADRANTS, strict=True):
        image.paste(colour, (x, y, x + HALF, y + HALF))
    return image


def encoded(fmt: str = "PNG", orientation: int = 1) -> bytes:
    """The upright picture as stored by a camera that says `orientation` in EXIF."""
    image, exif = upright(), Image.Exif()
    if orientation != 1:
        image = image.transpose(STORED[orientation])
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


PNG = encoded()


def write_shard(path: Path, samples: list[dict[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for i, members in enumerate(samples):
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{i:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def sample(**changes: bytes | None) -> dict[str, bytes]:
    """A good shard sample (png, txt, cls) with members changed or (None) removed."""
    members = {"png": PNG, "txt": b"a red square", "cls": b"1", **changes}
    return {ext: data for ext, data in members.items() if data is not None}


def shards(root: Path, bad: dict[int, dict[str, bytes]] | None = None, n: int = N) -> Path:
    """Two shards of n/2 samples, sample i replaced by bad[i]; returns their folder."""
    folder = root / "shards"
    folder.mkdir()
    items = [(bad or {}).get(i, sample()) for i in range(n)]
    write_shard(folder / "s-000.tar", items[: n // 2])
    write_shard(folder / "s-001.tar", items[n // 2 :])
    return folder


def write_csv(root: Path, rows: list[str], header: str = "filepath,title,label") -> Path:
    (root / "img.png").write_bytes(PNG)
    path = root / "t.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def csv_rows(n: int = N) -> list[str]:
    return [f"img.png,a red square {i},{('cat', 'dog')[i % 2]}" for i in range(n)]


def coco(root: Path, captions: list | None = None, ids=lambda i: i, image_ids=None) -> Path:
    """COCO's layout (annotations/captions_train.json beside train/), N images."""
    (root / "train").mkdir(parents=True)
    (root / "annotations").mkdir()
    for i in range(N):
        (root / "train" / f"{i}.png").write_bytes(PNG)
    captions = captions or [f"a red square {i}" for i in range(N)]
    image_ids = image_ids or ids
    data = {
        "images": [{"id": ids(i), "file_name": f"{i}.png"} for i in range(N)],
        "annotations": [{"image_id": image_ids(i), "caption": c} for i, c in enumerate(captions)],
    }
    path = root / "annotations" / "captions_train.json"
    path.write_text(json.dumps(data))
    return path


# ---- the two readers ---------------------------------------------------------------------------


def check(capsys, path: Path | str, data: list[str]) -> tuple[int, str, str]:
    """`mmcl data check PATH` -> (exit status, stdout, stderr)."""
    capsys.readouterr()
    status = main(["data", "check", str(path), "--workers", "1", *data])
    out, err = capsys.readouterr()
    return status, out, err


def run_config(path: Path | str, data: list[str], method: str) -> RunConfig:
    overrides = [*MODEL, f"method.name={method}", f"train.batch_size={BATCH}"]
    overrides += [f"data.path={path}", "data.format=auto", f"data.image_size={SIZE}"]
    return load_config(RunConfig, None, [*overrides, *(f"data.{o}" for o in data)])


def training(path: Path | str, data: list[str], method: str, epochs: int = 2) -> str:
    """What a run says reading `epochs` epochs: "" when it reads them, else its error message.
    The same objects and calls as `Trainer` (source, method, dataset, sampler, tally), and the
    method's losses on every batch, without the optimizer."""
    try:
        cfg = run_config(path, data, method)
        source = load_train_source(cfg.data)
        model = build_method(cfg.method, cfg.model, data_info(cfg.data, source))
        dataset = training_dataset(cfg, model, source)
        sampler = dataset
        if not isinstance(dataset, ShardStream):
            sampler = ResumableBatchSampler(len(dataset), BATCH, cfg.train.seed)
        bad = bad_data_log(cfg.data, dataset)
        for epoch in range(epochs):
            sampler.set_position(epoch, 0)
            for batch in epoch_batches(dataset, sampler, cfg, epoch, False, bad):
                with torch.no_grad():
                    model(batch)
    except MMCLError as error:
        return str(error)
    return ""


# ---- the kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A dataset builder, the overrides to read it with, and what both readers must say."""

    build: Callable[[Path], Path]
    refused: bool  # check exits 2 and training stops
    named: tuple[str, ...] = ()  # in check's message (stderr, else stdout) and training's
    data: tuple[str, ...] = ()  # data.* overrides (without "data.")
    method: str = "clip"
    epochs: int = 2


def _cut(fraction: float | None, *names: str) -> Callable[[Path], Path]:
    """Shards with `names` (s-001.tar) cut at `fraction` of their data, or (None) one zero
    block short of the end-of-archive marker."""

    def build(root: Path) -> Path:
        folder = shards(root)
        for path in (folder / name for name in names or ["s-001.tar"]):
            with tarfile.open(path) as tar:
                end = max(m.offset_data + m.size for m in tar.getmembers())
            cut = int(end * fraction) if fraction is not None else -(-end // 512) * 512 + 512
            path.write_bytes(path.read_bytes()[:cut])
        return folder

    return build


def _compressed(opener, name: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        plain = write_shard(root / "plain.tar", [sample() for _ in range(N)]).read_bytes()
        path = root / name
        with opener(path, "wb") as handle:
            handle.write(plain)
        return path

    return build


def _gz_folder(root: Path) -> Path:
    folder = root / "gz"
    folder.mkdir()
    _compressed(gzip.open, "gz/s-000.tar.gz")(root)
    return folder


def _shards_with(bad: dict[int, dict[str, bytes]]) -> Callable[[Path], Path]:
    return lambda root: shards(root, bad)


def _all_shards(**changes: bytes | None) -> Callable[[Path], Path]:
    return _shards_with({i: sample(**changes) for i in range(N)})


def _meta(value: dict) -> bytes:
    return json.dumps(value).encode()


def _csv(rows: Callable[[list[str]], list[str]]) -> Callable[[Path], Path]:
    return lambda root: write_csv(root, rows(csv_rows()))


def _row(i: int, text: str) -> Callable[[Path], Path]:
    def edit(rows: list[str]) -> list[str]:
        rows[i] = text
        return rows

    return _csv(edit)


def _encoded_csv(encoding: str, bom: bytes = b"") -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        path = write_csv(root, csv_rows())
        path.write_bytes(bom + path.read_text().encode(encoding))
        return path

    return build


def _latin1_csv(root: Path) -> Path:
    path = write_csv(root, [f"img.png,un carré rouge {i},chat" for i in range(N)])
    path.write_bytes(path.read_text().encode("latin-1"))
    return path


def _latin1_row(column: int) -> Callable[[Path], Path]:
    """The CSV with row 3's field `column` holding a latin-1 accent."""

    def build(root: Path) -> Path:
        path = write_csv(root, csv_rows(), header="filepath,title,label,note")
        lines = path.read_bytes().split(b"\n")
        lines[1:-1] = [line + b",ok" for line in lines[1:-1]]
        fields = lines[3].split(b",")
        fields[column] += b" caf\xe9"
        lines[3] = b",".join(fields)
        path.write_bytes(b"\n".join(lines))
        return path

    return build


def _exif_csv(orientation: int, fmt: str = "PNG") -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        path = write_csv(root, [f"turned.img,a square {i},cat" for i in range(N)])
        (root / "turned.img").write_bytes(encoded(fmt, orientation))
        return path

    return build


def _exif_folder(root: Path) -> Path:
    for name in ("cat", "dog"):
        (root / "classes" / name).mkdir(parents=True)
        for i in range(N // 2):
            (root / "classes" / name / f"{i}.jpg").write_bytes(encoded("JPEG", 6))
    return root / "classes"


def _exif_coco(root: Path) -> Path:
    path = coco(root)
    for i in range(N):
        (root / "train" / f"{i}.png").write_bytes(encoded("PNG", 8))
    return path


def _coco_images_beside_annotations_parent(root: Path) -> Path:
    path = coco(root)
    for file in (root / "train").iterdir():
        file.rename(root / file.name)
    return path


def _coco_images_elsewhere(root: Path) -> Path:
    path = coco(root)
    (root / "train").rename(root / "pictures")
    return path


def _coco_caption(value) -> Callable[[Path], Path]:
    return lambda root: coco(root, [value if i == 3 else f"a red square {i}" for i in range(N)])


TRUNCATED = ("s-001.tar is truncated", "re-download or rewrite it")
NO_CAPTION = ("no caption: looked for a .txt member, or a .json member with",)
LABEL_FIX = ("write the number",)
FRACTION_0 = ("max_bad_fraction=0",)
EXIF = {f"exif {o}": Kind(_exif_csv(o), False, ("16 of 16 images stored rotated",)) for o in STORED}

KINDS: dict[str, Kind] = {
    # truncated shards: refused whole, at start, by both
    "truncated at 10%": Kind(_cut(0.1), True, TRUNCATED),
    "truncated at 35%": Kind(_cut(0.35), True, TRUNCATED),
    "truncated at 60%": Kind(_cut(0.6), True, TRUNCATED),
    "truncated at 99%": Kind(_cut(0.99), True, TRUNCATED),
    "truncated in the first header": Kind(_cut(0.01), True, (*TRUNCATED, "after 0 complete")),
    "no end-of-archive marker": Kind(_cut(None), True, (*TRUNCATED, "end-of-archive")),
    "truncated, image-only method": Kind(_cut(0.5), True, TRUNCATED, method="simclr"),
    "two shards truncated": Kind(
        _cut(0.5, "s-000.tar", "s-001.tar"),
        True,
        ("2 shards are truncated", "s-000.tar (", "s-001.tar (", "re-download or rewrite them"),
    ),
    # compressed shards: refused by both, naming the command that makes them plain tar
    ".tar.gz": Kind(_compressed(gzip.open, "s.tar.gz"), True, ("gzip-compressed", "gunzip -c")),
    ".tgz": Kind(_compressed(gzip.open, "s.tgz"), True, ("s.tgz is gzip", "> ")),
    ".tar.bz2": Kind(_compressed(bz2.open, "s.tar.bz2"), True, ("bzip2-compressed", "bunzip2")),
    ".tar.xz": Kind(_compressed(lzma.open, "s.tar.xz"), True, ("xz-compressed", "unxz -c")),
    "gzip named .tar": Kind(_compressed(gzip.open, "s.tar"), True, ("s.tar is gzip", "gunzip")),
    "folder of .tar.gz": Kind(_gz_folder, True, ("s-000.tar.gz is gzip", "gunzip")),
    # samples without a caption: bad for a text method, named with what was looked for
    "no caption: png+cls": Kind(
        _shards_with({3: sample(txt=None)}), True, (*NO_CAPTION, "has .cls, .png"), FRACTION_0
    ),
    "no caption: jpg+json label": Kind(
        _shards_with({9: {"jpg": encoded("JPEG"), "json": _meta({"label": 1})}}),
        True,
        ("s-001.tar:0001", *NO_CAPTION, "has .jpg, .json"),
        FRACTION_0,
    ),
    "no caption: webp alone": Kind(
        _shards_with({0: {"webp": encoded("WEBP")}}), True, (*NO_CAPTION, "has .webp"), FRACTION_0
    ),
    "no caption: json title": Kind(
        _shards_with({15: sample(txt=None, json=_meta({"title": "a red square"}))}),
        True,
        ("s-001.tar:0007", *NO_CAPTION),
        FRACTION_0,
    ),
    "no caption: two of 16": Kind(
        _shards_with({2: sample(txt=None), 12: sample(txt=None)}), True, NO_CAPTION
    ),
    "no caption: one of 16 tolerated": Kind(_shards_with({5: sample(txt=None)}), False),
    "empty txt caption": Kind(
        _shards_with({4: sample(txt=b" ")}), True, ("s-000.tar:0004", "empty caption"), FRACTION_0
    ),
    # shard labels that are not class indices
    'json label "cat"': Kind(
        _all_shards(cls=None, json=_meta({"caption": "x", "label": "cat"})),
        True,
        ('json "label" is "cat", text', "no class list", *LABEL_FIX),
    ),
    'json label "3"': Kind(
        _all_shards(cls=None, json=_meta({"caption": "x", "label": "3"})),
        True,
        ('json "label" is "3", text', *LABEL_FIX),
        method="simclr",
    ),
    "json label -1": Kind(
        _all_shards(cls=None, json=_meta({"caption": "x", "label": -1})),
        True,
        ('json "label" -1 is negative', "numbered from 0"),
    ),
    "json label 1.5": Kind(
        _all_shards(cls=None, json=_meta({"caption": "x", "label": 1.5})),
        True,
        ('json "label" is 1.5', "class index"),
    ),
    "json label true": Kind(
        _all_shards(cls=None, json=_meta({"caption": "x", "label": True})),
        True,
        ('json "label" is true', "class index"),
    ),
    "cls cat": Kind(_all_shards(cls=b"cat"), True, ("cls member 'cat'", "write the class")),
    "cls -2": Kind(_all_shards(cls=b"-2"), True, ("cls member '-2' is negative",)),
    "one cls 2.0 of 16 tolerated": Kind(_shards_with({7: sample(cls=b"2.0")}), False),
    # empty class cells in a CSV with data.csv.label_key: a bad row naming file:line and column
    "empty label, first row": Kind(
        _row(0, "img.png,a red square,"),
        True,
        ("t.csv:2", "empty class cell in column 'label'", "fill it in"),
        ("csv.label_key=label", "max_bad_fraction=0"),
        "supervised",
    ),
    "empty label, middle row": Kind(
        _row(7, "img.png,a red square,"),
        True,
        ("t.csv:9", "column 'label' (data.csv.label_key)"),
        ("csv.label_key=label", "max_bad_fraction=0"),
        "supervised",
    ),
    "empty label, last row": Kind(
        _row(N - 1, "img.png,a red square,  "),
        True,
        (f"t.csv:{N + 1}", "empty class cell"),
        ("csv.label_key=label", "max_bad_fraction=0"),
        "supervised",
    ),
    "empty label tolerated": Kind(
        _row(3, "img.png,a red square,"), False, (), ("csv.label_key=label",), "supervised", 3
    ),
    "every label empty": Kind(
        _csv(lambda rows: [r.rsplit(",", 1)[0] + "," for r in rows]),
        True,
        ("empty class cell",),
        ("csv.label_key=label",),
        "supervised",
    ),
    # CSV encodings: a UTF-16/32 file is refused whole, a non-UTF-8 row is a bad row
    "UTF-16 LE": Kind(_encoded_csv("utf-16"), True, ("encoding is UTF-16", "re-save it as UTF-8")),
    "UTF-16 BE": Kind(
        _encoded_csv("utf-16-be", b"\xfe\xff"), True, ("encoding is UTF-16", "UTF-8")
    ),
    "UTF-32": Kind(_encoded_csv("utf-32"), True, ("encoding is UTF-32", "re-save it as UTF-8")),
    "UTF-16 without BOM": Kind(_encoded_csv("utf-16-le"), True, ("NUL bytes", "re-save it")),
    "latin-1 caption": Kind(
        _latin1_row(1),
        True,
        ("t.csv:4", "column 'title' is not valid UTF-8", "re-save it as UTF-8"),
        FRACTION_0,
    ),
    "latin-1 class": Kind(
        _latin1_row(2),
        True,
        ("t.csv:4", "column 'label' is not valid UTF-8"),
        ("csv.label_key=label", "max_bad_fraction=0"),
    ),
    "latin-1 in a column not read": Kind(_latin1_row(3), False, (), FRACTION_0),
    "latin-1 file": Kind(_latin1_csv, True, ("encoding is not UTF-8", "re-save it as UTF-8")),
    # COCO: where the images are, captions that are not text, ids written as text
    "coco images beside annotations' parent": Kind(_coco_images_beside_annotations_parent, False),
    "coco images elsewhere": Kind(
        _coco_images_elsewhere,
        True,
        ("'0.png', ...) are in none of", "annotations, ", "coco.images"),
    ),
    "coco images elsewhere, data.coco.images": Kind(
        _coco_images_elsewhere, False, (), ("coco.images={root}/pictures",)
    ),
    "coco caption 42": Kind(
        _coco_caption(42),
        True,
        ("annotations[3]['caption'] is 42 (a number), not text",),
        FRACTION_0,
    ),
    "coco caption 2.5": Kind(_coco_caption(2.5), True, ("is 2.5 (a number)",), FRACTION_0),
    "coco caption true": Kind(_coco_caption(True), True, ("is true (bool), not text",), FRACTION_0),
    "coco caption list": Kind(_coco_caption(["a", "b"]), True, ("(list), not text",), FRACTION_0),
    "coco caption object": Kind(
        _coco_caption({"en": "a"}), True, ("(dict), not text",), FRACTION_0
    ),
    "coco ids as text": Kind(lambda root: coco(root, ids=str), False),
    "coco image ids int, annotation ids text": Kind(lambda root: coco(root, image_ids=str), False),
    "coco image ids text, annotation ids int": Kind(
        lambda root: coco(root, ids=str, image_ids=lambda i: i), False
    ),
    # one bad sample met every epoch is one bad sample (not one per epoch)
    "one corrupt image, 3 epochs of a CSV": Kind(
        _row(5, "broken.png,a red square,cat"), False, (), (), "clip", 3
    ),
    "one corrupt image, 3 epochs of shards": Kind(
        _shards_with({6: sample(png=b"<html>")}), False, (), (), "simclr", 3
    ),
    # EXIF orientation: applied in every format, counted by check
    **EXIF,
    "exif 6, JPEG in a CSV": Kind(_exif_csv(6, "JPEG"), False, ("16 of 16 images stored",)),
    "exif 6, ImageFolder JPEG": Kind(_exif_folder, False, ("16 of 16",), (), "supervised"),
    "exif 8, COCO": Kind(_exif_coco, False, ("16 of 16",)),
    "exif 6, shards": Kind(_all_shards(png=encoded("PNG", 6)), False, ("16 of 16",)),
    "exif 1, upright": Kind(_exif_csv(1), False, ("EXIF orientation: 0 of 16",)),
}


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS.keys())
def test_check_and_training_agree(tmp_path, capsys, kind: Kind):
    path = kind.build(tmp_path)
    data = [o.replace("{root}", str(tmp_path)) for o in kind.data]
    status, out, err = check(capsys, path, data)
    stopped = training(path, data, kind.method, kind.epochs)
    assert "Traceback" not in err
    assert status == (2 if kind.refused else 0), out + err
    assert bool(stopped) == kind.refused, stopped
    if kind.refused:
        assert len(err.strip().splitlines()) == 1 and "\n" not in stopped
    said = err or out
    for needle in kind.named:
        assert needle in said, (needle, said)
        assert not kind.refused or needle in stopped, (needle, stopped)


@pytest.mark.parametrize(
    "members",
    [
        {"png": PNG, "cls": b"1"},
        {"jpg": encoded("JPEG"), "json": b'{"label": 1}'},
        {"png": PNG, "json": b'{"title": "a red square"}'},
    ],
    ids=["png+cls", "jpg+json label", "png+json title"],
)
def test_shards_without_any_caption(tmp_path, capsys, members):
    """Check cannot know the method: it passes the data, says it has no caption (naming a
    sample and what was looked for), and so do image-only training (which reads it) and text
    training (which refuses it, at start when no sample has a caption member)."""
    path = shards(tmp_path, {i: members for i in range(N)})
    status, out, _ = check(capsys, path, [])
    assert status == 0
    assert "captions: none (s-000.tar:0000: no caption: looked for a .txt member" in out
    assert "methods that train on captions (clip) refuse it" in out
    assert training(path, [], "simclr") == ""
    refused = training(path, [], "clip")
    assert "s-000.tar" in refused and "a .txt member, or a .json member with" in refused
    assert "\n" not in refused


def _quadrant_means(image: torch.Tensor) -> torch.Tensor:
    """(4, 3): the mean of each quadrant of a (3, S, S) image, in CORNERS order."""
    return torch.stack([image[:, y : y + HALF, x : x + HALF].mean((1, 2)) for x, y in CORNERS])


@pytest.mark.parametrize("name", [name for name in KINDS if name.startswith("exif")])
def test_exif_orientation_is_applied_where_training_reads(tmp_path, name):
    """The image a training batch holds is the upright picture, whatever the EXIF said."""
    kind = KINDS[name]
    cfg = run_config(kind.build(tmp_path), list(kind.data), kind.method)
    source = load_train_source(cfg.data)
    model = build_method(cfg.method, cfg.model, data_info(cfg.data, source))
    dataset = training_dataset(cfg, model, source)
    loaded = next(iter(dataset)) if isinstance(dataset, ShardStream) else dataset[0]
    want = normalize(to_tensor(upright(), SIZE))  # (3, S, S), as a batch holds it
    error = (_quadrant_means(loaded.batch.images[0]) - _quadrant_means(want)).abs().max()
    assert error < 0.3, error  # JPEG blurs the edges; a wrong turn moves a quadrant by > 2


START_REFUSALS = [
    "truncated at 35%",
    ".tar.gz",
    "UTF-16 LE",
    "coco images elsewhere",
    "every label empty",
]


@pytest.mark.parametrize("name", START_REFUSALS)
def test_mmcl_train_refuses_at_start_as_check_does(tmp_path, capsys, name):
    """The real command: exit 2, one line naming what check names, no step taken."""
    kind = KINDS[name]
    path = kind.build(tmp_path)
    args = ["train", "configs/clip_shapes.yaml", "--no-eval", f"out_dir={tmp_path}", "name=r"]
    args += [f"data.path={path}", "data.format=auto", f"method.name={kind.method}"]
    capsys.readouterr()
    assert main([*args, *(f"data.{o}" for o in kind.data)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert all(needle in err for needle in kind.named), err
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_supervised_run_skips_an_empty_label_cell_that_check_tolerates(tmp_path, capsys):
    """It crashed with `IndexError: Target -1` while check called the file good."""
    path = _row(3, "img.png,a red square,")(tmp_path)
    assert check(capsys, path, ["csv.label_key=label"])[0] == 0
    args = ["train", "configs/clip_shapes.yaml", "--no-eval", f"out_dir={tmp_path}", "name=s"]
    args += [*MODEL, f"data.path={path}", "data.format=csv", "data.csv.label_key=label"]
    args += [f"data.image_size={SIZE}"]
    args += ["method.name=supervised", f"train.batch_size={BATCH}", f"train.steps={N // BATCH}"]
    args += ["train.warmup_steps=1", "train.progress=false"]
    assert main(args) == 0
