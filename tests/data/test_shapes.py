"""The `shapes` world: determinism, the sampling laws of each split, captions, cache, config."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from mmcl.data.worlds import WORLDS, load_world, render, shapes
from mmcl.data.worlds.captions import CAPTION_ATTRIBUTES, recaption
from mmcl.data.worlds.shapes import PREFERRED_BACKGROUND, ShapesConfig, build_split
from mmcl.errors import MMCLError

SMALL = dict(n_train=3000, n_test=600)


def within_binomial(successes: int, n: int, p: float, z: float = 4.5) -> bool:
    """|observed - p| within z standard errors (plus a continuity term)."""
    return abs(successes / n - p) <= z * math.sqrt(p * (1 - p) / n) + 1.0 / n


@pytest.fixture(scope="module")
def train():
    return build_split(ShapesConfig(**SMALL), "train")


def values(split, name):
    return [split.attribute_values[name][i] for i in split.attributes[name].tolist()]


def test_same_seed_same_bytes_other_seed_differs():
    cfg = ShapesConfig(n_train=64)
    a, b = build_split(cfg, "train"), build_split(ShapesConfig(n_train=64), "train")
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    c = build_split(dataclasses.replace(cfg, seed=1), "train")
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(build_split(ShapesConfig(n_test=64), "id").images, a.images)


def test_split_contents(train):
    n = len(train)
    assert train.images.shape == (n, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.labels, train.attributes["shape"])
    assert train.class_names == train.attribute_values["shape"] and len(train.class_names) >= 8
    for name, ids in train.attributes.items():
        assert ids.dtype == torch.long
        assert ids.min() >= 0 and ids.max() < len(train.attribute_values[name])
    # photos vary: no two of the first 50 images are identical
    flat = train.images[:50].flatten(1)
    assert len({bytes(row.numpy()) for row in flat}) == 50


def test_label_names_the_attribute_a_classifier_learns():
    split = build_split(ShapesConfig(n_train=200, label="texture", canvas="grey"), "train")
    assert torch.equal(split.labels, split.attributes["texture"])
    assert split.class_names == list(render.TEXTURES)
    same_images = build_split(ShapesConfig(n_train=200, canvas="grey"), "train")
    assert torch.equal(split.images, same_images.images)  # only the label moved


def test_spurious_strength_in_train(train):
    preferred = PREFERRED_BACKGROUND[train.labels.numpy()]
    hits = int((train.attributes["background"].numpy() == preferred).sum())
    assert within_binomial(hits, len(train), 0.9)
    assert len(set(train.attributes["background"].tolist())) == len(render.BACKGROUNDS)


@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0])
def test_spurious_strength_follows_config(strength):
    split = build_split(ShapesConfig(n_train=2000, spurious_strength=strength), "train")
    hits = int((split.attributes["background"].numpy() == split.labels.numpy()).sum())
    assert within_binomial(hits, len(split), strength)


def test_reversed_never_uses_own_background_but_another_class():
    split = build_split(ShapesConfig(**SMALL), "spurious_reversed")
    bg, label = split.attributes["background"].numpy(), split.labels.numpy()
    assert not np.any(bg == PREFERRED_BACKGROUND[label])
    assert set(bg.tolist()) <= set(PREFERRED_BACKGROUND.tolist())


def test_balanced_background_is_independent_of_class():
    split = build_split(ShapesConfig(**SMALL), "balanced")
    hits = int((split.attributes["background"].numpy() == split.labels.numpy()).sum())
    assert within_binomial(hits, len(split), 1 / len(render.BACKGROUNDS))


def test_heldout_colors_only_in_unseen_split(train):
    cfg = ShapesConfig(**SMALL)
    assert not set(values(train, "color")) & set(cfg.heldout_colors)
    unseen = build_split(cfg, "unseen_colors")
    assert set(values(unseen, "color")) == set(cfg.heldout_colors)


def test_sketch_split_is_outline_only():
    split = build_split(ShapesConfig(n_test=50), "sketch")
    assert set(values(split, "style")) == {"sketch"}
    for image in split.images:  # paper and ink only: no fill, texture or background
        assert len(torch.unique(image.flatten(1), dim=1).T) == 2
    assert all(c.split()[-1] != "background." and "photo" not in c for c in split.captions)


def test_train_is_all_photo_unless_configured(train):
    assert set(values(train, "style")) == {"photo"}
    mixed = build_split(ShapesConfig(n_train=2000, sketch_fraction=0.3), "train")
    assert within_binomial(int(mixed.attributes["style"].sum()), 2000, 0.3)


def test_sketch_ink_sits_at_the_named_position():
    split = build_split(ShapesConfig(n_test=300), "sketch")
    ink = split.images[:, 0] < 128  # (N, H, W)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    for i, pos in enumerate(values(split, "position")):
        cy, cx = (ys * ink[i]).sum() / ink[i].sum(), (xs * ink[i]).sum() / ink[i].sum()
        if "top" in pos:
            assert cy < 16
        if "bottom" in pos:
            assert cy > 16
        if "left" in pos:
            assert cx < 16
        if "right" in pos:
            assert cx > 16


def test_circle_template_area_matches_geometry():
    templates = render.shape_templates()
    circle = templates[render.SHAPES.index("circle")]
    assert circle.mean() == pytest.approx(math.pi * 0.85**2 / 4, rel=0.01)
    assert all(t.mean() > 0.1 for t in templates)  # every shape is drawn


def test_captions_name_the_class_and_attributes_at_their_rates(train):
    shapes_ = values(train, "shape")
    assert all(shape in c for shape, c in zip(shapes_, train.captions, strict=True))
    colors = values(train, "color")
    said = sum(f" {col} " in c for col, c in zip(colors, train.captions, strict=True))
    assert within_binomial(said, len(train), 0.5)
    said_bg = sum(" background" in c for c in train.captions)
    assert within_binomial(said_bg, len(train), 0.5)
    said_style = sum(c.startswith("a photo of") for c in train.captions)
    assert within_binomial(said_style, len(train), 0.5)


def test_caption_presets(train):
    label = recaption(train, "label")
    assert torch.equal(label.images, train.images)
    assert label.captions == [f"a {s}." for s in values(train, "shape")]
    full = recaption(train, "full").captions[0]
    for name in ("shape", "color", "background", "size", "style"):
        assert values(train, name)[0] in full
    preset = build_split(ShapesConfig(n_train=20, caption_preset="background"), "train")
    assert all(c.endswith(" background.") for c in preset.captions)
    # zero-shot prompts follow the caption grammar: "a {}." is exactly the label caption
    assert label.captions[0] == train.prompt_templates[0].format(values(train, "shape")[0])


def test_caption_mention_thins_a_preset():
    """Each detail a preset names is mentioned with probability caption_mention, independently."""
    cfg = ShapesConfig(n_train=2000, caption_preset="rich", caption_mention=0.5)
    split = build_split(cfg, "train")
    n = len(split.captions)
    on_background = sum(c.endswith(" background.") for c in split.captions)
    assert within_binomial(on_background, n, 0.5)
    shapes_ = values(split, "shape")
    class_only = sum(c == f"a {s}." for c, s in zip(split.captions, shapes_, strict=True))
    assert within_binomial(class_only, n, 0.5**3)  # background, colour and texture all omitted
    assert not any("photo" in c or "small" in c for c in split.captions)  # unnamed: never said


def test_cache_round_trip_reads_the_file(tmp_path, monkeypatch):
    cfg = ShapesConfig(n_test=40)
    first = load_world(cfg, "sketch", tmp_path)
    files = list((tmp_path / "worlds").glob("*.pt"))
    assert len(files) == 2 and not list((tmp_path / "worlds").glob("*.tmp"))  # images, text

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered although cached")

    monkeypatch.setattr(shapes, "render_images", no_rendering)
    second = load_world(ShapesConfig(n_test=40), "sketch", tmp_path)
    assert torch.equal(first.images, second.images) and first.captions == second.captions
    assert second.attributes.keys() == first.attributes.keys()
    with pytest.raises(AssertionError, match="rendered"):  # another config is another file
        load_world(ShapesConfig(n_test=41), "sketch", tmp_path)


def test_configs_differing_in_captions_only_share_one_render(tmp_path, monkeypatch):
    """The demo's caption arms see the same pixels: rendered once, captioned per config."""
    label_cfg = ShapesConfig(n_test=40, caption_preset="label", label="color")
    fresh = build_split(label_cfg, "id")
    rich = load_world(ShapesConfig(n_test=40, caption_preset="rich"), "id", tmp_path)
    rendered = []
    monkeypatch.setattr(shapes, "render_images", lambda *a, **k: rendered.append(a) or rich.images)
    label = load_world(label_cfg, "id", tmp_path)
    assert not rendered
    assert torch.equal(label.images, rich.images) and label.captions != rich.captions
    assert torch.equal(label.labels, rich.attributes["color"])
    assert torch.equal(fresh.images, label.images) and fresh.captions == label.captions
    load_world(ShapesConfig(n_test=40, spurious_strength=0.5), "id", tmp_path)
    assert len(rendered) == 1  # a pixel-changing field renders again
    assert len(list((tmp_path / "worlds").glob("shapes-id-images-*.pt"))) == 2


@pytest.mark.parametrize("which", ["images", "text"])
def test_cache_default_dir_and_corrupt_file(tmp_path, monkeypatch, which):
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path))
    cfg = ShapesConfig(n_test=8)
    split = load_world(cfg, "id")
    pattern = "shapes-id-images-*.pt" if which == "images" else "shapes-id-[!i]*.pt"
    (path,) = (tmp_path / "worlds").glob(pattern)
    path.write_bytes(b"not a torch file")
    again = load_world(cfg, "id")
    assert torch.equal(split.images, again.images) and split.captions == again.captions


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"image_size": 48}, "image_size"),
        ({"n_train": 0}, "n_train"),
        ({"n_test": -1}, "n_test"),
        ({"spurious_strength": 1.5}, "spurious_strength"),
        ({"sketch_fraction": -0.1}, "sketch_fraction"),
        ({"caption_mention": 1.2}, "caption_mention"),
        ({"heldout_colors": ["mauve"]}, "heldout_colors"),
        ({"heldout_colors": []}, "heldout_colors"),
        ({"caption_probs": {"color": 2.0}}, "caption_probs"),
        ({"caption_probs": {"colour": 0.5}}, "caption_probs"),
        ({"caption_preset": "rich_ish"}, "caption_preset"),
        ({"seed": -3}, "seed"),
        ({"label": "colour"}, "label"),
        ({"label": "background", "canvas": "grey"}, "label"),
    ],
)
def test_bad_config_names_the_field(override, field):
    with pytest.raises(MMCLError, match=field):
        ShapesConfig(**override)


def test_unknown_split_and_world():
    with pytest.raises(MMCLError, match="did you mean 'sketch'"):
        load_world(ShapesConfig(n_test=4), "skech")
    with pytest.raises(MMCLError, match="world"):
        load_world("shapez", "train")


def test_registry_describes_every_split():
    world = WORLDS.get("shapes")
    assert {"train", "id", "balanced", "spurious_reversed", "sketch", "unseen_colors"} <= set(
        world.splits
    )
    assert all(world.splits.values())
    assert set(CAPTION_ATTRIBUTES) < set(shapes.ATTRIBUTE_VALUES)
