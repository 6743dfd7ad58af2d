"""Fashion-MNIST's idx files (Xiao et al. 2017), found on disk and read with torchvision's reader.

No download: the files come from a package (Debian's `dataset-fashion-mnist` puts them in
`DEBIAN_ROOT`) or from any folder holding them, gzipped or not, including torchvision's own
`FashionMNIST/raw` layout. torchvision's idx reader wants uncompressed files, so gzipped ones are
unpacked once into the mmcl cache (atomically; the package's folder is never written).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

from mmcl.errors import MMCLError
from mmcl.io import atomic_write

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist` (as root)"
# Xiao et al.'s class names, in label order, as a caption names them.
CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
COUNTS = {"train": 60_000, "test": 10_000}
IMAGE_SIDE = 28


@dataclass(frozen=True)
class FashionPart:
    """One of the dataset's two parts: (N, 28, 28) uint8 images, (N,) labels, and their files."""

    images: torch.Tensor
    labels: torch.Tensor
    files: tuple[Path, Path]


def candidate_folders(root: str) -> list[Path]:
    """Where the idx files may lie: `root` (or the Debian package's folder when empty) and
    torchvision's `FashionMNIST/raw` under it."""
    base = Path(root).expanduser() if root else DEBIAN_ROOT
    return [base, base / "FashionMNIST" / "raw"]


def find_file(root: str, name: str) -> Path:
    """The idx file `name` (or `name.gz`) in the first folder that holds it, else an error
    naming the folders searched, the files expected and how to install them."""
    for folder in candidate_folders(root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    searched = " or ".join(str(f) for f in candidate_folders(root))
    expected = ", ".join(f"{n}[.gz]" for pair in FILES.values() for n in pair)
    raise MMCLError(
        f"Fashion-MNIST not found: no {name}[.gz] in {searched}; {INSTALL_HINT}, or point "
        f"data.world_options.root at a folder holding {expected}"
    )


def unpacked(path: Path, cache_dir: Path) -> Path:
    """`path` itself when uncompressed; a gzipped file is unpacked once into `cache_dir`,
    named by the source's path and size so that another copy of the dataset is another file."""
    if path.suffix != ".gz":
        return path
    stat = path.stat()
    tag = hashlib.sha256(f"{path.resolve()}:{stat.st_size}".encode()).hexdigest()[:12]
    target = cache_dir / f"{path.stem}-{tag}"
    if not target.is_file():
        try:
            with gzip.open(path, "rb") as source:
                atomic_write(target, lambda handle: shutil.copyfileobj(source, handle))
        except (OSError, EOFError) as err:
            raise MMCLError(f"{path}: not a readable gzip file ({err}); {INSTALL_HINT}") from err
    return target


def read_idx(path: Path, reader, source: Path) -> torch.Tensor:
    """torchvision's idx reader, its bare assertions turned into an error naming the file."""
    try:
        return reader(str(path))
    except (AssertionError, ValueError, RuntimeError, IndexError) as err:
        raise MMCLError(
            f"{source}: not an idx file of Fashion-MNIST ({type(err).__name__} {err}); "
            f"{INSTALL_HINT}"
        ) from err


@lru_cache(maxsize=4)
def load_part(root: str, part: str, cache_dir: str) -> FashionPart:
    """The `train` (60,000) or `test` (10,000) part, checked for its shape and label range."""
    image_name, label_name = FILES[part]
    image_file, label_file = find_file(root, image_name), find_file(root, label_name)
    raw = Path(cache_dir) / "worlds" / "fashion-mnist-raw"
    images = read_idx(unpacked(image_file, raw), read_image_file, image_file)
    labels = read_idx(unpacked(label_file, raw), read_label_file, label_file)
    if images.ndim != 3 or tuple(images.shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE):
        raise MMCLError(f"{image_file}: images of shape {tuple(images.shape)}, not (N, 28, 28)")
    if len(labels) != len(images):
        raise MMCLError(
            f"{label_file}: {len(labels)} labels for {len(images)} images in {image_file}"
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(CLASSES)):
        raise MMCLError(f"{label_file}: labels outside 0-{len(CLASSES) - 1}")
    return FashionPart(images, labels.long(), (image_file, label_file))
