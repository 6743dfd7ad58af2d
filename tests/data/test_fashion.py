"""The `fashion` world: the idx reader, the sampling law of each split, captions, config knobs.

Most tests read a few idx files the session writes (`fashion_root`); the ones marked
`needs_dataset` read Debian's dataset-fashion-mnist and are skipped, saying so, without it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from mmcl.config import load_config
from mmcl.data.config import DataConfig
from mmcl.data.worlds import WORLDS, backdrops, fashion, fashion_mnist, load_world
from mmcl.data.worlds.fashion import FashionConfig, build_split
from mmcl.errors import MMCLError

needs_dataset = pytest.mark.skipif(
    not (fashion_mnist.DEBIAN_ROOT / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install "
    "dataset-fashion-mnist, as root; .ci/run's install script does it where it can)",
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Unpacked idx files and rendered splits go to this test's own cache."""
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    fashion_mnist.load_part.cache_clear()


def config(root: str, **knobs) -> FashionConfig:
    return FashionConfig(root=root, **{"n_train": 60, "n_test": 40, **knobs})


def names(split, attribute: str) -> list[str]:
    return [split.attribute_values[attribute][i] for i in split.attributes[attribute].tolist()]


def test_reader_reads_gzipped_and_plain_idx_files_alike(fashion_root, tmp_path):
    part = fashion_mnist.load_part(fashion_root, "train", str(tmp_path))
    assert part.images.shape == (60, 28, 28) and part.images.dtype == torch.uint8
    assert part.labels.tolist() == [k % 10 for k in range(60)]
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in (*fashion_mnist.FILES["train"], *fashion_mnist.FILES["test"]):
        with gzip.open(Path(fashion_root) / f"{name}.gz") as source:
            (plain / name).write_bytes(source.read())
    again = fashion_mnist.load_part(str(plain), "train", str(tmp_path))
    assert torch.equal(again.images, part.images) and again.files[0].parent == plain


def test_torchvision_layout_is_found(fashion_root, tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for source in Path(fashion_root).iterdir():
        (raw / source.name).write_bytes(source.read_bytes())
    part = fashion_mnist.load_part(str(tmp_path), "test", str(tmp_path / "cache"))
    assert len(part.labels) == 20 and part.files[0].parent == raw


def test_missing_dataset_names_the_folder_the_files_and_the_install(tmp_path):
    with pytest.raises(MMCLError) as err:
        fashion_mnist.load_part(str(tmp_path / "nowhere"), "train", str(tmp_path))
    text = str(err.value)
    assert "nowhere" in text and "train-images-idx3-ubyte" in text
    assert "apt-get install dataset-fashion-mnist" in text and "data.world_options.root" in text


def test_a_file_that_is_not_idx_is_a_one_line_error_naming_it(fashion_root, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for source in Path(fashion_root).iterdir():
        (bad / source.name).write_bytes(source.read_bytes())
    with gzip.open(bad / "train-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(b"not an idx file at all")
    with pytest.raises(MMCLError, match="train-images-idx3-ubyte.gz: not an idx file"):
        fashion_mnist.load_part(str(bad), "train", str(tmp_path / "cache"))


def test_same_config_same_bytes_and_another_seed_differs(fashion_root):
    a, b = build_split(config(fashion_root), "train"), build_split(config(fashion_root), "train")
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    c = build_split(config(fashion_root, seed=1), "train")
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (60, 3, 32, 32) and a.images.dtype == torch.uint8


def test_training_uses_each_photo_once_and_tests_draw_from_the_test_part(fashion_root):
    train = build_split(config(fashion_root), "train")
    assert sorted(train.meta["photos"]) == list(range(60))  # n_train = all 60, no repeat
    test = build_split(config(fashion_root, n_test=50), "id")
    photos = test.meta["photos"]
    assert max(photos) < 20 and sorted(photos[:20]) == list(range(20))  # cycled past 20
    assert "t10k-images" in test.meta["source"][0]


def test_each_split_follows_its_background_and_tint_law(fashion_root):
    cfg = config(fashion_root, n_train=60, n_test=400, spurious_strength=1.0)
    seen = set(backdrops.SEEN)
    train = build_split(cfg, "train")
    item = train.attributes["item"].numpy()
    assert (train.attributes["background"].numpy() == item).all()  # strength 1: own background
    reversed_ = build_split(cfg, "spurious_reversed")
    assert (reversed_.attributes["background"] != reversed_.attributes["item"]).all()
    assert set(names(reversed_, "background")) <= seen
    unseen = build_split(cfg, "unseen_backgrounds")
    assert set(names(unseen, "background")) == set(backdrops.UNSEEN)
    balanced = build_split(cfg, "balanced")
    assert len(set(names(balanced, "background"))) == len(seen)
    assert set(names(build_split(cfg, "unseen_colors"), "color")) == set(cfg.heldout_colors)
    assert not set(names(train, "color")) & set(cfg.heldout_colors)


def test_the_object_keeps_its_photo_and_tint_the_background_its_look(fashion_root):
    cfg = config(fashion_root, n_test=40, spurious_strength=1.0)
    split = build_split(cfg, "id")
    images = split.images.float()
    # The synthetic photos are blocks on black: where the photo is dark the background shows,
    # so two images with the same background and different classes agree at the corners.
    same_bg = split.attributes["background"].numpy()
    a, b = np.flatnonzero(same_bg == same_bg[0])[:2]
    assert (images[a, :, 0, 0] - images[b, :, 0, 0]).abs().max() < 60
    red = split.attribute_values["color"].index("red")
    reds = np.flatnonzero(split.attributes["color"].numpy() == red)
    if len(reds):
        centre = images[reds[0], :, 14:18, 14:18].mean(dim=(1, 2))
        assert centre[0] > centre[1] and centre[0] > centre[2]  # a red object is red


def test_sketches_are_ink_on_paper(fashion_root):
    split = build_split(config(fashion_root), "sketch")
    colours = {tuple(p) for p in split.images.permute(0, 2, 3, 1).reshape(-1, 3).tolist()}
    assert len(colours) == 2  # paper and ink, nothing else


def test_captions_name_the_item_and_the_preset_details(fashion_root):
    rich = build_split(config(fashion_root, caption_preset="rich"), "train")
    item, colour = names(rich, "item")[0], names(rich, "color")[0]
    background = names(rich, "background")[0]
    assert rich.captions[0] == f"{'an' if colour[0] in 'aeiou' else 'a'} {colour} {item} on " \
        f"{'an' if background[0] in 'aeiou' else 'a'} {background} background."  # fmt: skip
    label = build_split(config(fashion_root, caption_preset="label"), "train")
    assert all(c.rstrip(".").split(" ", 1)[1] in fashion_mnist.CLASSES for c in label.captions)
    details = build_split(config(fashion_root, caption_preset="details"), "train")
    assert not any("background" in c for c in details.captions)
    assert torch.equal(label.images, details.images)  # captions never change a pixel


def test_grey_canvas_has_no_background_attribute(fashion_root):
    split = build_split(config(fashion_root, canvas="grey"), "train")
    assert "background" not in split.attributes and "item" in split.attributes


def test_shared_knobs_come_from_data_shapes_and_own_from_world_options(fashion_root):
    cfg = load_config(
        DataConfig,
        None,
        ["world=fashion", "shapes.n_train=123", "shapes.spurious_strength=0.3",
         f"world_options.root={fashion_root}"],
    )  # fmt: skip
    world = cfg.world_config()
    assert isinstance(world, FashionConfig)
    assert (world.n_train, world.spurious_strength, world.root) == (123, 0.3, fashion_root)
    assert world.label == "item"
    with pytest.raises(MMCLError, match="data.world_options.n_train.*data.shapes.n_train"):
        load_config(DataConfig, None, ["world=fashion", "world_options.n_train=5"])
    with pytest.raises(MMCLError, match="data.world_options.rot.*root"):
        load_config(DataConfig, None, ["world=fashion", "world_options.rot=/x"])
    with pytest.raises(MMCLError, match="image_size = 64.*32 px"):
        load_config(DataConfig, None, ["world=fashion", "shapes.image_size=64"])


def test_world_is_registered_with_its_attributes_and_noun():
    world = WORLDS.get("fashion")
    assert world.noun == "item" and world.attribute_values["item"] == list(fashion_mnist.CLASSES)
    assert set(world.splits) == set(fashion.SHIFTS)
    assert WORLDS.get("shapes").noun == "shape"


def test_cached_split_reads_back_identical(fashion_root, tmp_path):
    cfg = config(fashion_root)
    first = load_world(cfg, "id", tmp_path / "worlds")
    again = load_world(cfg, "id", tmp_path / "worlds")
    assert torch.equal(first.images, again.images) and first.captions == again.captions


@needs_dataset
def test_the_real_dataset_has_its_published_counts_and_classes(tmp_path):
    train = fashion_mnist.load_part("", "train", str(tmp_path))
    test = fashion_mnist.load_part("", "test", str(tmp_path))
    assert (len(train.labels), len(test.labels)) == (60_000, 10_000)
    assert torch.bincount(train.labels).tolist() == [6000] * 10  # balanced, as published
    split = build_split(FashionConfig(n_train=200, n_test=50), "id")
    assert split.images.shape == (50, 3, 32, 32)


def test_data_check_fashion_names_its_files_and_refuses_a_partial_dataset(fashion_root, capsys):
    from mmcl.cli import main

    assert main(["data", "check", "fashion", f"world_options.root={fashion_root}"]) == 2
    captured = capsys.readouterr()
    assert "train: 60 images" in captured.out and "train-images-idx3-ubyte.gz" in captured.out
    assert "not the published 60,000" in captured.err


@needs_dataset
def test_data_check_fashion_passes_gate_a_on_the_real_dataset(capsys):
    from mmcl.cli import main

    assert main(["data", "check", "fashion"]) == 0
    out = capsys.readouterr().out
    assert "train: 60,000 images, 6,000 to 6,000 per class" in out
    assert "test: 10,000 images" in out and "gate (a)" in out and "passed" in out


def test_recaption_names_the_item(fashion_root):
    from mmcl.data.worlds.captions import recaption

    split = recaption(build_split(config(fashion_root), "train"), "label")
    assert all(c.rstrip(".").split(" ", 1)[1] in fashion_mnist.CLASSES for c in split.captions)
