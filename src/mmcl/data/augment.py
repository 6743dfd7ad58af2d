"""SimCLR view augmentation (Chen et al. 2020), vectorized over a batch with per-sample draws.

torchvision's v2 transforms draw one set of random parameters per call, so per-sample views mean
one call per image: ~100-500 views/s at 32 px, far too slow for a CPU data loader. `ViewAugment`
draws every sample's parameters at once and applies them with batched tensor ops: crop + flip is
one `grid_sample`; the colour ops follow `torchvision.transforms.v2.functional` (the tests
compare them op by op). Difference: jitter ops run in a fixed order (brightness, contrast,
saturation, hue) where torchvision shuffles it per call. `torchvision_view_transform` gives the
per-image v2 pipeline with the same strength, e.g. for `per_sample`.

Strengths are configurable because feature suppression (MCL, Zhang et al. 2024) needs weak or no
colour jitter: with strong jitter colour stops being the easy feature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from mmcl.errors import MMCLError

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


@dataclass(frozen=True)
class AugmentStrength:
    """Parameters of the SimCLR pipeline; defaults are SimCLR's (jitter 0.8 strength, p=0.8)."""

    crop_scale: tuple[float, float] = (0.2, 1.0)  # SimCLR uses 0.08; tiny images need more
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)  # bright, contr, sat, hue
    jitter_p: float = 0.8
    gray_p: float = 0.2


AUGMENT_STRENGTHS: dict[str, AugmentStrength] = {
    "default": AugmentStrength(),
    "weak_color": AugmentStrength(jitter=(0.1, 0.1, 0.1, 0.02), gray_p=0.0),
    "no_color": AugmentStrength(jitter_p=0.0, gray_p=0.0),
}


def resolve_strength(strength: str | AugmentStrength) -> AugmentStrength:
    if isinstance(strength, AugmentStrength):
        return strength
    if strength not in AUGMENT_STRENGTHS:
        valid = ", ".join(AUGMENT_STRENGTHS)
        raise MMCLError(f"augmentation strength {strength!r} is unknown (valid: {valid})")
    return AUGMENT_STRENGTHS[strength]


def _uniform(lo: float, hi: float, n: int, g: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def crop_boxes(n: int, size: int, s: AugmentStrength, g: torch.Generator | None) -> torch.Tensor:
    """(N, 4) float (top, left, height, width) in pixels, RandomResizedCrop's law.

    Ten tries per sample at once; the first that fits wins, else the whole image.
    """
    tries = 10
    area = size * size * _uniform(*s.crop_scale, n * tries, g)
    log_r = _uniform(math.log(s.crop_ratio[0]), math.log(s.crop_ratio[1]), n * tries, g)
    w = torch.sqrt(area * torch.exp(log_r)).round().view(n, tries)
    h = torch.sqrt(area / torch.exp(log_r)).round().view(n, tries)
    fits = (w >= 1) & (w <= size) & (h >= 1) & (h <= size)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((n,), -1))
    pick = first.clamp(min=0)[:, None]
    h = torch.where(first >= 0, h.gather(1, pick)[:, 0], torch.tensor(float(size)))
    w = torch.where(first >= 0, w.gather(1, pick)[:, 0], torch.tensor(float(size)))
    top = torch.floor(torch.rand(n, generator=g) * (size - h + 1))
    left = torch.floor(torch.rand(n, generator=g) * (size - w + 1))
    return torch.stack([top, left, h, w], dim=1)


def crop_flip(images: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor, out: int):
    """Resize each (N, 3, H, W) float image's box to (out, out), mirrored where flip: one sample."""
    n, _, h, w = images.shape
    top, left, bh, bw = boxes.unbind(1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = bw / w * torch.where(flip, -1.0, 1.0)
    theta[:, 0, 2] = (2 * left + bw) / w - 1  # box centre, normalized (align_corners=False)
    theta[:, 1, 1] = bh / h
    theta[:, 1, 2] = (2 * top + bh) / h - 1
    grid = F.affine_grid(theta, [n, 3, out, out], align_corners=False)  # (N, out, out, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    wts = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * wts).sum(1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other, per-sample factor (N,), clamped to [0, 1]."""
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp(0.0, 1.0)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> HSV with hue in [0, 1)."""
    r, g, b = x.unbind(1)
    maxc, minc = x.max(1).values, x.min(1).values
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), 0)
    hue_g_b = torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe)
    hue = torch.where(maxc == r, (g - b) / safe, hue_g_b)
    hue = torch.where(delta > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    return torch.stack([hue, sat, maxc], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_hsv`, via the piecewise-linear channel formula."""
    h, s, v = x.unbind(1)
    k = (torch.tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + 6.0 * h[:, None]) % 6.0
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)  # (N, 3, H, W)
    return v[:, None] - v[:, None] * s[:, None] * ramp


def color_jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Per-sample brightness, contrast, saturation (multipliers) and hue shift; factors (N, 4)."""
    bright, contrast, sat, hue = factors.unbind(1)
    x = _blend(x, torch.zeros_like(x), bright)
    x = _blend(x, grayscale(x).mean((1, 2, 3), keepdim=True), contrast)
    x = _blend(x, grayscale(x), sat)
    hsv = rgb_to_hsv(x)
    hsv[:, 0] = (hsv[:, 0] + hue.view(-1, 1, 1)) % 1.0
    return hsv_to_rgb(hsv)


class ViewAugment:
    """Callable: uint8 (N, 3, H, W) -> float (N, 3, S, S) in [0, 1], one random view per image."""

    def __init__(self, image_size: int, strength: str | AugmentStrength = "default") -> None:
        self.image_size = image_size
        self.strength = resolve_strength(strength)

    def jitter_factors(self, n: int, g: torch.Generator | None) -> torch.Tensor:
        """(N, 4) factors; identity (1, 1, 1, 0) for samples whose jitter is not applied."""
        b, c, s, h = self.strength.jitter
        factors = torch.stack(
            [_uniform(1 - b, 1 + b, n, g), _uniform(1 - c, 1 + c, n, g),
             _uniform(1 - s, 1 + s, n, g), _uniform(-h, h, n, g)], dim=1,
        )  # fmt: skip
        apply = torch.rand(n, generator=g) < self.strength.jitter_p
        return torch.where(apply[:, None], factors, torch.tensor([1.0, 1.0, 1.0, 0.0]))

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        n, st = images.shape[0], self.strength
        x = images.float() / 255.0  # (N, 3, H, W)
        boxes = crop_boxes(n, images.shape[-1], st, generator)
        flip = torch.rand(n, generator=generator) < st.flip_p
        x = crop_flip(x, boxes, flip, self.image_size)  # (N, 3, S, S)
        factors = self.jitter_factors(n, generator)
        if st.jitter_p > 0:
            x = color_jitter(x, factors)
        gray = (torch.rand(n, generator=generator) < st.gray_p).view(-1, 1, 1, 1)
        return torch.where(gray, grayscale(x).expand_as(x), x)


def simclr_view_transform(image_size: int, strength: str | AugmentStrength = "default"):
    """The batched SimCLR view transform (`ViewAugment`) for WorldDataset's `view_transform`."""
    return ViewAugment(image_size, strength)


def torchvision_view_transform(image_size: int, strength: str | AugmentStrength = "default"):
    """The same pipeline as a per-image `torchvision.transforms.v2.Compose` (slow, reference)."""
    s = resolve_strength(strength)
    return v2.Compose(
        [
            v2.RandomResizedCrop(image_size, scale=s.crop_scale, ratio=s.crop_ratio),
            v2.RandomHorizontalFlip(s.flip_p),
            v2.RandomApply([v2.ColorJitter(*s.jitter)], p=s.jitter_p),
            v2.RandomGrayscale(s.gray_p),
        ]
    )


def per_sample(transform: Callable[[torch.Tensor], torch.Tensor]):
    """Wrap a one-image transform (uint8 (3, H, W) -> (3, S, S)) into the batch protocol."""

    def apply(images: torch.Tensor) -> torch.Tensor:
        return torch.stack([transform(image) for image in images])

    return apply
