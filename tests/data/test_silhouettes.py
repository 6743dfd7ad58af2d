"""Gate (a): every two class silhouettes of the default `shapes` world differ by enough pixels."""

from __future__ import annotations

import pytest

from mmcl.data.worlds import render
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.data.worlds.silhouettes import MIN_SILHOUETTE_PIXELS, silhouette_separation


def test_default_world_passes_the_silhouette_gate_at_the_smallest_size():
    pairs = silhouette_separation(ShapesConfig().image_size, size=0)
    assert len(pairs) == len(render.SHAPES) * (len(render.SHAPES) - 1) // 2
    closest = pairs[0]
    assert closest.pixels >= MIN_SILHOUETTE_PIXELS, closest


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("SIZE_RADIUS", (0.13, 0.19, 0.26)), ("SUPERSAMPLE", 1)],
    ids=["shapes shrunk to the old sizes", "no anti-aliasing"],
)
def test_the_gate_fails_when_shapes_shrink_or_lose_anti_aliasing(monkeypatch, attribute, value):
    monkeypatch.setattr(render, attribute, value)
    closest = silhouette_separation(32, size=0)[0]
    assert closest.pixels < MIN_SILHOUETTE_PIXELS, closest


def test_data_check_shapes_prints_the_silhouette_gate(capsys):
    from mmcl.cli import main

    assert main(["data", "check", "shapes"]) == 0
    out = capsys.readouterr().out
    assert "closest silhouettes at 32 px" in out
    assert "gate (a): every pair differs by >= 5 px: passed" in out
