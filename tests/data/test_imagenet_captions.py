"""ImageNet-Captions reader: text variants, class-name filter, labels, and its errors, on a small
JSON and image tree written by each test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmcl.data.formats.class_subsets import imagenet_class_names, imagenet_wnids
from mmcl.data.formats.imagenet_captions import read_imagenet_captions
from mmcl.errors import MMCLError

TENCH, GOLDFISH = "n01440764", "n01443537"  # ImageNet classes 0 and 1
ENTRIES = [
    {"filename": "t1.JPEG", "wnid": TENCH, "title": "My tench", "tags": ["fish", "lake"],
     "description": "Caught\nat dawn"},
    {"filename": "t2.JPEG", "wnid": TENCH, "title": "", "tags": [], "description": ""},
    {"filename": "g1.JPEG", "wnid": GOLDFISH, "title": "Pond", "tags": ["goldfish"],
     "description": "orange\tfish"},
    {"filename": "g2.JPEG", "wnid": GOLDFISH, "title": "Goldfishes", "tags": [],
     "description": "Carassius auratus at home"},
    {"filename": "x1.JPEG", "wnid": "n99999999", "title": "not a class", "tags": [],
     "description": ""},
]  # fmt: skip


def _write(tmp_path: Path, entries=ENTRIES, skip=()) -> tuple[Path, Path]:
    """The JSON and an ImageNet root with train/<wnid>/<file> for each entry (but `skip`)."""
    root = tmp_path / "imagenet"
    for e in entries:
        if isinstance(e, dict) and e.get("filename") not in skip:
            folder = root / "train" / e["wnid"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / e["filename"]).write_bytes(b"jpeg")
    path = tmp_path / "imagenet_captions.json"
    path.write_text(json.dumps(entries))
    return path, root


def _by_file(rs):
    return {Path(r.image).name: r for r in rs.records}


def test_default_text_joins_title_tags_description(tmp_path):
    path, root = _write(tmp_path)
    rs = read_imagenet_captions(path, root)
    recs = _by_file(rs)
    assert set(recs) == {"t1.JPEG", "g1.JPEG", "g2.JPEG"}  # empty text and other wnid dropped
    assert recs["t1.JPEG"].captions == ("My tench fish lake Caught at dawn",)
    assert recs["g1.JPEG"].captions == ("Pond goldfish orange fish",)
    assert recs["t1.JPEG"].label == imagenet_wnids().index(TENCH) == 0
    assert recs["g1.JPEG"].label == imagenet_wnids().index(GOLDFISH)
    assert recs["t1.JPEG"].image == str(root / "train" / TENCH / "t1.JPEG")
    assert recs["g2.JPEG"].source == "imagenet_captions.json[3]"
    assert rs.class_names == imagenet_class_names() and len(rs.class_names) == 1000


def test_variants_order_and_several_captions(tmp_path):
    path, root = _write(tmp_path)
    # fields are joined in the order title, tags, description whatever order is asked
    recs = _by_file(read_imagenet_captions(path, root, text="description+title"))
    assert recs["t1.JPEG"].captions == ("My tench Caught at dawn",)
    recs = _by_file(read_imagenet_captions(path, root, text=("title", "tags")))
    assert recs["t1.JPEG"].captions == ("My tench", "fish lake")
    assert recs["g2.JPEG"].captions == ("Goldfishes",)  # its empty tags caption is dropped
    recs = _by_file(read_imagenet_captions(path, root, text="tags"))
    assert set(recs) == {"t1.JPEG", "g1.JPEG"}


def test_class_filter_whole_word_case_and_synonyms(tmp_path):
    path, root = _write(tmp_path)
    recs = _by_file(read_imagenet_captions(path, root, class_filter=True))
    # "tench" is a whole word in t1; "goldfish" in g1; "Goldfishes" is not a whole-word match
    assert set(recs) == {"t1.JPEG", "g1.JPEG"}
    recs = _by_file(read_imagenet_captions(path, root, text="title", class_filter=True))
    assert set(recs) == {"t1.JPEG"}
    synonyms = tmp_path / "LOC_synset_mapping.txt"
    synonyms.write_text(f"{TENCH} tench, Tinca tinca\n{GOLDFISH} goldfish, Carassius auratus\n")
    recs = _by_file(
        read_imagenet_captions(path, root, text="description", class_filter=True, synonyms=synonyms)
    )
    assert set(recs) == {"g2.JPEG"}  # "Carassius auratus"
    pond = {"text": "title", "class_filter": True, "synonyms": {GOLDFISH: ["pond"]}}
    recs = _by_file(read_imagenet_captions(path, root, **pond))
    assert set(recs) == {"t1.JPEG"}  # case-sensitive: "Pond" is not "pond"
    recs = _by_file(read_imagenet_captions(path, root, **pond, case_sensitive=False))
    assert set(recs) == {"t1.JPEG", "g1.JPEG"}


def test_prefix_template_and_train_folder_given_directly(tmp_path):
    path, root = _write(tmp_path)
    recs = _by_file(read_imagenet_captions(path, root / "train", text="title",
                                           prefix="a photo of a {}."))  # fmt: skip
    assert recs["t1.JPEG"].captions == (f"a photo of a {imagenet_class_names()[0]}. My tench",)


def test_missing_images_error_or_skip(tmp_path):
    path, root = _write(tmp_path, skip={"g1.JPEG"})
    with pytest.raises(MMCLError, match=r"imagenet_captions.json: 1 of 3 images are missing.*g1"):
        read_imagenet_captions(path, root)
    recs = _by_file(read_imagenet_captions(path, root, max_missing_fraction=0.5))
    assert set(recs) == {"t1.JPEG", "g2.JPEG"}
    recs = _by_file(read_imagenet_captions(path, root, check_images=False))
    assert "g1.JPEG" in recs


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"filename": "a"}), "expected a JSON list"),
        (json.dumps([{"wnid": TENCH, "title": "", "tags": [], "description": ""}]),
         r"entry 0 lacks field\(s\) \['filename'\]"),
        (json.dumps([{"filename": "a", "wnid": TENCH, "tags": []}]),
         r"entry 0 lacks field\(s\) \['description', 'title'\]"),
        (json.dumps([{"filename": "a", "wnid": TENCH, "title": "x", "description": "",
                      "tags": "fish"}]), "'tags' must be a list of strings"),
        (json.dumps(["a.JPEG"]), "entry 0 is a str"),
    ],
)  # fmt: skip
def test_bad_json_names_the_file(tmp_path, content, match):
    _, root = _write(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(MMCLError, match=match) as info:
        read_imagenet_captions(bad, root)
    assert str(bad) in str(info.value)


def test_bad_arguments(tmp_path):
    path, root = _write(tmp_path)
    with pytest.raises(MMCLError, match="fields must be"):
        read_imagenet_captions(path, root, text="title+caption")
    with pytest.raises(MMCLError, match="one \\{\\}"):
        read_imagenet_captions(path, root, prefix="a photo")
    with pytest.raises(MMCLError, match="not a folder"):
        read_imagenet_captions(path, tmp_path / "nowhere")
    with pytest.raises(MMCLError, match="no such file"):
        read_imagenet_captions(tmp_path / "none.json", root)
    bad_syn = tmp_path / "syn.txt"
    bad_syn.write_text("tench, Tinca tinca\n")
    with pytest.raises(MMCLError, match=r"syn.txt:1: expected 'wnid name"):
        read_imagenet_captions(path, root, class_filter=True, synonyms=bad_syn)
    with pytest.raises(MMCLError, match="no entry left"):
        read_imagenet_captions(path, root, text="description", class_filter=True)


def test_data_format_imagenet_captions_trains_a_few_steps(tmp_path, capsys):
    from PIL import Image

    from mmcl.cli import main
    from mmcl.train.metrics_log import read_metrics

    entries = [
        {"filename": f"{wnid[-2:]}_{i}.png", "wnid": wnid, "title": f"photo {i}",
         "tags": ["fish"], "description": "in a tank"}
        for wnid in (TENCH, GOLDFISH) for i in range(4)
    ]  # fmt: skip
    path, root = _write(tmp_path, entries)
    for e in entries:  # real images in place of the placeholder bytes
        Image.new("RGB", (20, 16), (40 * len(e["filename"]), 90, 30)).save(
            root / "train" / e["wnid"] / e["filename"]
        )
    args = ["train", "configs/clip_shapes.yaml", f"out_dir={tmp_path}", "name=ic"]
    args += ["model.width=4", "model.text_width=32", "model.text_layers=1", "model.text_heads=2"]
    args += ["train.batch_size=4", "train.steps=2", "train.warmup_steps=1", "train.log_every=1"]
    args += ["train.progress=false", "data.image_size=16", "data.format=imagenet_captions"]
    args += [
        f"data.path={path}",
        f"data.imagenet_captions.imagenet_root={root}",
        "data.imagenet_captions.captions_text=title,tags",
    ]
    assert main([*args, "--no-eval"]) == 0
    assert [m["step"] for m in read_metrics(tmp_path / "ic" / "metrics.jsonl")] == [1, 2]
    without_root = [a for a in args if not a.startswith("data.imagenet_captions.imagenet_root=")]
    assert main([*without_root, "name=no_root", "--no-eval"]) == 2  # an error, no traceback
    assert "data.imagenet_captions.imagenet_root" in capsys.readouterr().err
