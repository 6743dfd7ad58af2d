"""MMVP-style pairs on the `fashion` world: two composites that differ in exactly one attribute.

Most tests read the few idx files the session writes (`fashion_root`: class k a bright block);
one repeats the pixel checks on Debian's Fashion-MNIST and is skipped, saying so, without it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from mmcl.config import load_config
from mmcl.data.worlds import WORLDS, backdrops, fashion, fashion_mnist
from mmcl.data.worlds.fashion import FashionConfig
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.eval import mmvp
from mmcl.runs.scoring import mmvp_pairs
from mmcl.train.config import RunConfig

REAL = fashion_mnist.DEBIAN_ROOT / "train-images-idx3-ubyte.gz"
needs_dataset = pytest.mark.skipif(
    not REAL.is_file(),
    reason=f"{REAL} is missing: Debian's dataset-fashion-mnist is not installed "
    "(apt-get install dataset-fashion-mnist, as root)",
)
SLACK = fashion.IMAGE_SIZE - fashion.IMAGE_SIDE  # the photo's offsets: 0..SLACK each way


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    fashion_mnist.load_part.cache_clear()


def photo(cfg: FashionConfig, values: dict[str, str]) -> np.ndarray:
    """(28, 28) float in [0, 1]: the test photo an image of a pair shows."""
    part = fashion.dataset_part(cfg, "test")
    return part.images[int(values["photo"].split()[1])].numpy() / 255.0


def masks(image: np.ndarray, offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(touched, opaque) (32, 32) bool: where the photo placed at `offset` covers any of the
    composite (alpha > 0) and where it covers all of it (alpha = 1, `fashion.composite`)."""
    dx, dy = offset
    lum = fashion.place(image[None] * 255.0, np.array([dx]), np.array([dy]), fashion.IMAGE_SIZE)
    alpha = np.clip(lum[0] * (255.0 / fashion.OBJECT_LEVEL), 0.0, 1.0)
    return alpha > 0, alpha >= 1.0


def changed(images: torch.Tensor) -> np.ndarray:
    """(32, 32) bool: the pixels whose colour differs between a pair's two images."""
    return (images[0] != images[1]).any(dim=0).numpy()


def explained(cfg: FashionConfig, pattern: str, values, images: torch.Tensor) -> bool:
    """Whether, for one offset shared by both photos, every changed pixel is one the pair's
    attribute may change: the object for a tint, the not-fully-covered canvas for a background,
    either photo's object for an item (the same offset for both: nothing moved)."""
    diff = changed(images)
    for offset in [(dx, dy) for dx in range(SLACK + 1) for dy in range(SLACK + 1)]:
        (touched_1, opaque_1), (touched_2, _) = (
            masks(photo(cfg, v), offset) for v in values
        )  # fmt: skip
        allowed = {"color": touched_1, "background": ~opaque_1, "item": touched_1 | touched_2}
        if not (diff & ~allowed[pattern]).any():
            return True
    return False


def article(text: str) -> str:
    return re.sub(r"\ban\b", "a", text)


def check_pairs(cfg: FashionConfig, n_pairs: int) -> mmvp.PairSet:
    pairs = mmvp.world_pairs(cfg, n_pairs, seed=3)
    assert list(dict.fromkeys(pairs.patterns)) == ["item", "color", "background"]
    assert pairs.images.shape == (3 * n_pairs, 2, 3, 32, 32)
    for pattern, (a, b), (s1, s2), images in zip(
        pairs.patterns, pairs.values, pairs.statements, pairs.images, strict=True
    ):
        named = [k for k in a if a[k] != b[k] and k != "photo"]
        assert named == [pattern]  # the named attribute differs, nothing else drawn does
        assert (a["photo"] != b["photo"]) == (pattern == "item")  # one photo unless the item
        # The statements name the attribute and differ in its value alone.
        assert (
            a[pattern] in s1
            and s1 != s2
            and article(s1.replace(a[pattern], b[pattern])) == article(s2)
        )
        assert changed(images).any() and explained(cfg, pattern, (a, b), images)
    return pairs


def test_fashion_pairs_differ_in_exactly_the_named_attribute(fashion_root):
    pairs = check_pairs(FashionConfig(root=fashion_root, spurious_strength=0.1), 6)
    assert pairs.statements[0][0].startswith(("a ", "an "))  # the item is the caption's noun
    assert all(s.count(" on ") == (p == "background") for p, pair in
               zip(pairs.patterns, pairs.statements, strict=True) for s in pair)  # fmt: skip


@needs_dataset
def test_fashion_pairs_on_the_real_photos_differ_only_as_their_attribute_implies():
    check_pairs(FashionConfig(spurious_strength=0.1), 10)


def test_fashion_pairs_draw_the_values_training_shows(fashion_root):
    cfg = FashionConfig(root=fashion_root, heldout_colors=["pink", "cyan"])
    pairs = mmvp.world_pairs(cfg, 40, seed=0)
    colours = {v["color"] for pair in pairs.values for v in pair}
    backgrounds = {v["background"] for pair in pairs.values for v in pair}
    assert not colours & {"pink", "cyan"} and backgrounds <= set(backdrops.SEEN)
    assert {v["style"] for pair in pairs.values for v in pair} == {"photo"}
    again = mmvp.world_pairs(cfg, 40, seed=0)
    assert torch.equal(again.images, pairs.images) and again.statements == pairs.statements


def test_the_grey_canvas_has_no_background_pairs_and_style_pairs_come_on_request(fashion_root):
    cfg = FashionConfig(root=fashion_root, canvas="grey")
    assert mmvp.pair_attributes(cfg) == ["item", "color"]
    sketch = mmvp.world_pairs(cfg, 2, ["style"])
    assert [v[1]["style"] for v in sketch.values] == ["sketch", "sketch"]
    assert all(s2.startswith("a sketch of") for _, s2 in sketch.statements)


def test_pairs_are_rendered_by_the_runs_world(fashion_root, tmp_path):
    assert set(mmvp.PAIR_WORLDS.names()) == set(WORLDS.names())
    cfg = load_config(RunConfig, None, ["data.world=fashion", f"data.world_options.root="
                                        f"{fashion_root}", "eval.mmvp_pairs=2"])  # fmt: skip
    pairs = mmvp_pairs(cfg)
    assert {v[0]["item"] for v in pairs.values} <= set(fashion_mnist.CLASSES)
    shapes = mmvp_pairs(load_config(RunConfig, None, ["eval.mmvp_pairs=2"]))
    assert torch.equal(shapes.images, mmvp.world_pairs(ShapesConfig(), 2).images)
