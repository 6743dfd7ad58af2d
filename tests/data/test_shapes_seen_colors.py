"""`shapes` world option `seen_colors`: a narrower palette whose unseen colours stay the same."""

from __future__ import annotations

import pytest

from mmcl.data.worlds.shapes import ShapesConfig, build_split
from mmcl.errors import MMCLError

SEEN = ["red", "green", "blue", "yellow"]


def colors(split) -> set[str]:
    names = split.attribute_values["color"]
    return {names[i] for i in split.attributes["color"].tolist()}


def test_seen_colors_restrict_train_and_id_but_not_the_unseen_split():
    cfg = ShapesConfig(n_train=400, n_test=200, seen_colors=SEEN)
    assert colors(build_split(cfg, "train")) == set(SEEN)
    assert colors(build_split(cfg, "id")) == set(SEEN)
    assert colors(build_split(cfg, "unseen_colors")) == set(cfg.heldout_colors)


def test_default_keeps_every_colour_not_held_out():
    cfg = ShapesConfig(n_train=800, n_test=10)
    assert len(colors(build_split(cfg, "train"))) == 8


@pytest.mark.parametrize("bad", [[], ["mauve"], ["red", "pink"]])
def test_bad_seen_colors_name_the_field(bad):
    with pytest.raises(MMCLError, match="seen_colors"):
        ShapesConfig(seen_colors=bad)
