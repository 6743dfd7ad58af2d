"""Image files to and from uint8 tensors: decode (PIL), resize + centre-crop, encode.

Decoding is where real data goes wrong (truncated JPEGs, empty files, HTML saved as .jpg), so
every failure becomes one `BadSample` naming the reason; the caller decides to skip it.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from mmcl.data.formats.bad_data import BadSample

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Shorter side to `size` (bicubic; no-op when it already is), then the centre square."""
    w, h = image.size
    if min(w, h) != size:
        scale = size / min(w, h)
        w, h = max(size, round(w * scale)), max(size, round(h * scale))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    if (w, h) != (size, size):
        image = image.crop((left, top, left + size, top + size))
    return image


def decode_image(source: str | os.PathLike | bytes, size: int) -> torch.Tensor:
    """A file path or encoded bytes -> (3, size, size) uint8; raises `BadSample` on failure."""
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                image.load()  # decode now: truncated data fails here, not later
                rgb = resize_center_crop(image.convert("RGB"), size)
    except FileNotFoundError:
        raise BadSample("image file is missing") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Warning) as error:
        raise BadSample(f"image cannot be decoded ({type(error).__name__}: {error})") from None
    array = np.asarray(rgb, dtype=np.uint8)  # (S, S, 3)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, S, S)


def encode_image(image: torch.Tensor, ext: str) -> bytes:
    """(3, H, W) uint8 -> PNG / JPEG (quality 95) / WebP (lossless) bytes."""
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    buffer = io.BytesIO()
    fmt = PIL_FORMATS[ext.lower().lstrip(".")]
    options = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(fmt, {})
    pil.save(buffer, format=fmt, **options)
    return buffer.getvalue()
