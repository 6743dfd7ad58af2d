"""Image files to and from uint8 tensors: decode (PIL), resize + centre-crop, encode.

Decoding is where real data goes wrong (truncated JPEGs, empty files, HTML saved as .jpg), so
every failure becomes one `BadSample` naming the reason; the caller decides to skip it. A file's
EXIF orientation is applied when it is decoded (phone cameras store the pixels sideways and say
so in EXIF), for every format, so that no image trains or is scored rotated.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mmcl.data.formats.bad_data import BadSample

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
ORIENTATION = 0x0112  # the EXIF tag; 1 is upright, 2..8 a flip and/or rotation to undo
TURNED = range(2, 9)


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


def _wide_to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit (I;16*) or 32-bit integer (I) grey -> L by keeping the high byte, as Pillow does
    for 16-bit RGB PNGs; Pillow's own convert clips these at 255 (a white image). Float (F)
    images in [0, 1] are scaled to 0..255, others clipped."""
    array = np.asarray(image)
    if image.mode == "F":
        scale = 255.0 if float(array.max(initial=0.0)) <= 1.0 else 1.0
        return Image.fromarray(np.clip(array * scale, 0, 255).round().astype(np.uint8))
    array = array.astype(np.int64)
    shift = 8 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 0
    return Image.fromarray(np.clip(array >> shift, 0, 255).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: wide grey scaled to 8 bits, transparency composited on white.

    `convert("RGB")` alone turns 16-bit PNGs white and shows whatever colour transparent
    pixels happen to hold (often black); white is what a viewer shows, as img2dataset does.
    """
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _wide_to_8_bit(image)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("RGB")


def open_upright(source: str | os.PathLike | bytes) -> tuple[Image.Image, bool]:
    """A file path or encoded bytes -> (fully decoded RGB image with its EXIF orientation
    applied, whether the file carried a rotation or flip); raises `BadSample` on failure."""
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                image.load()  # decode now: truncated data fails here, not later
                turned = image.getexif().get(ORIENTATION, 1) in TURNED
                return to_rgb(ImageOps.exif_transpose(image) if turned else image), turned
    except FileNotFoundError:
        raise BadSample("image file is missing") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Warning) as error:
        raise BadSample(f"image cannot be decoded ({type(error).__name__}: {error})") from None


def open_rgb(source: str | os.PathLike | bytes) -> Image.Image:
    """A file path or encoded bytes -> fully decoded, upright RGB image (`BadSample` if not)."""
    return open_upright(source)[0]


def to_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """A decoded image -> (3, size, size) uint8, resized and centre-cropped."""
    array = np.asarray(resize_center_crop(image, size), dtype=np.uint8)  # (S, S, 3)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, S, S)


def decode_image(source: str | os.PathLike | bytes, size: int) -> torch.Tensor:
    """A file path or encoded bytes -> (3, size, size) uint8; raises `BadSample` on failure."""
    return to_tensor(open_rgb(source), size)


def encode_image(image: torch.Tensor, ext: str) -> bytes:
    """(3, H, W) uint8 -> PNG / JPEG (quality 95) / WebP (lossless) bytes."""
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    buffer = io.BytesIO()
    fmt = PIL_FORMATS[ext.lower().lstrip(".")]
    options = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(fmt, {})
    pil.save(buffer, format=fmt, **options)
    return buffer.getvalue()
