"""WorldDataset batches, the batched SimCLR augmentation, the sample grid and the bench."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch.utils.data import DataLoader
from torchvision.transforms.v2 import functional as TF

from mmcl.data.augment import (
    AUGMENT_STRENGTHS,
    color_jitter,
    crop_boxes,
    crop_flip,
    hsv_to_rgb,
    per_sample,
    rgb_to_hsv,
    simclr_view_transform,
    torchvision_view_transform,
)
from mmcl.data.batch import Batch
from mmcl.data.inspect import write_sample_grid
from mmcl.data.world_dataset import WorldDataset, collate_batches
from mmcl.data.worlds.shapes import ShapesConfig, build_split
from mmcl.errors import MMCLError
from mmcl.models.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def split():
    return build_split(ShapesConfig(n_train=64), "train")


def test_getitems_returns_a_normalized_batch(split):
    tokenizer = Tokenizer(context_length=32)
    ds = WorldDataset(split, tokenizer=tokenizer, n_views=2)
    idx = [3, 0, 17, 5]
    batch = ds.__getitems__(idx)
    assert isinstance(batch, Batch) and len(batch) == 4
    assert batch.images.shape == (4, 3, 32, 32) and batch.images.dtype == torch.float32
    expected = TF.normalize(
        split.images[idx].float() / 255, list(OPENAI_DATASET_MEAN), list(OPENAI_DATASET_STD)
    )
    torch.testing.assert_close(batch.images, expected)
    assert torch.equal(batch.index, torch.tensor(idx))
    assert torch.equal(batch.labels, split.labels[idx])
    assert torch.equal(batch.attributes["color"], split.attributes["color"][idx])
    assert batch.texts.dtype == torch.long and batch.texts.shape == (4, 32)
    assert torch.equal(batch.texts[1], tokenizer([split.captions[0]])[0])
    assert ds.captions_for(idx) == [split.captions[i] for i in idx]
    assert batch.views.shape == (4, 2, 3, 32, 32)
    assert not torch.allclose(batch.views[:, 0], batch.images)
    assert not torch.allclose(batch.views[:, 0], batch.views[:, 1])


def test_getitem_and_dataloader(split):
    ds = WorldDataset(split)
    one = ds[7]
    assert len(one) == 1 and one.texts is None and one.views is None
    torch.testing.assert_close(one.images[0], ds.__getitems__([7]).images[0])
    loader = DataLoader(ds, batch_size=16, shuffle=True, collate_fn=collate_batches)
    batches = list(loader)
    assert len(batches) == 4 and all(isinstance(b, Batch) and len(b) == 16 for b in batches)
    assert sorted(torch.cat([b.index for b in batches]).tolist()) == list(range(64))
    with pytest.raises(MMCLError, match="Batch"):
        collate_batches([1, 2])


def test_color_jitter_matches_torchvision_per_sample():
    x = torch.rand(6, 3, 16, 16)
    factors = torch.tensor(
        [[1.3, 0.8, 1.2, 0.05], [0.7, 1.4, 0.6, -0.08], [1.0, 1.0, 1.0, 0.0]] * 2
    )
    ours = color_jitter(x, factors)
    for i, (b, c, s, h) in enumerate(factors.tolist()):
        ref = TF.adjust_brightness(x[i], b)
        ref = TF.adjust_contrast(ref, c)
        ref = TF.adjust_saturation(ref, s)
        ref = TF.adjust_hue(ref, h)
        torch.testing.assert_close(ours[i], ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5, rtol=0)


def test_crop_flip_identity_flip_and_box():
    x = torch.rand(2, 3, 8, 8)
    full = torch.tensor([[0.0, 0.0, 8.0, 8.0]] * 2)
    torch.testing.assert_close(crop_flip(x, full, torch.tensor([False, False]), 8), x)
    torch.testing.assert_close(crop_flip(x, full, torch.tensor([True, True]), 8), x.flip(-1))
    quarter = torch.tensor([[4.0, 0.0, 4.0, 4.0]] * 2)  # bottom-left 4x4 block, kept at 4 px
    torch.testing.assert_close(
        crop_flip(x, quarter, torch.tensor([False, False]), 4), x[:, :, 4:, :4]
    )


def test_crop_boxes_follow_the_scale_law():
    strength = AUGMENT_STRENGTHS["default"]
    boxes = crop_boxes(2000, 32, strength, torch.Generator().manual_seed(0))
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 32).all() and (left + w <= 32).all()
    area = h * w / 32**2
    assert area.min() >= 0.15 and area.max() <= 1.0  # scale (0.2, 1) up to rounding
    assert 0.5 < area.mean() < 0.7  # mean of U(0.2, 1) = 0.6, before rounding


def test_view_transforms_are_random_and_pluggable(split):
    images = split.images[:8]
    aug = simclr_view_transform(32, "no_color")
    a, b = aug(images), aug(images)
    assert a.shape == (8, 3, 32, 32) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, b)
    ds = WorldDataset(split, view_transform=per_sample(torchvision_view_transform(32)), n_views=1)
    assert ds.__getitems__([0, 1]).views.shape == (2, 1, 3, 32, 32)
    with pytest.raises(MMCLError, match="strength"):
        simclr_view_transform(32, "medium")


def test_sample_grid_is_a_png(split, tmp_path):
    path = write_sample_grid(split, tmp_path / "grid.png", n=6)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_bench_renders():
    spec = importlib.util.spec_from_file_location("bench_render", ROOT / "bench/bench_render.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    try:
        results = bench.main(["--n", "64"])
    finally:
        torch.set_num_threads(threads)
    assert set(results) >= {"render_32px_images_per_s", "render_64px_images_per_s"}
    assert all(v > 0 for v in results.values())


def test_seeded_views_depend_on_the_batch_not_on_the_global_rng(split):
    ds = WorldDataset(split, n_views=2, view_seed=7)
    torch.manual_seed(0)
    first = ds.__getitems__([3, 1, 4]).views
    torch.manual_seed(1)
    state = torch.get_rng_state()
    again = ds.__getitems__([3, 1, 4]).views
    assert torch.equal(first, again)
    assert torch.equal(torch.get_rng_state(), state)  # the global stream is untouched
    assert not torch.equal(first, ds.__getitems__([3, 1, 5]).views)
    assert not torch.equal(first[:, 0], first[:, 1])  # two different views per sample
