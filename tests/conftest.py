"""Shared fixtures: a tiny world and model so every end-to-end test runs in seconds."""

from __future__ import annotations

import pytest

TINY = [
    "data.shapes.n_train=512",
    "data.shapes.n_test=128",
    "model.width=4",
    "model.text_width=32",
    "model.text_layers=1",
    "model.text_heads=2",
    "model.embed_dim=16",
    "train.batch_size=64",
    "train.steps=6",
    "train.warmup_steps=2",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.progress=false",
    "eval.probe_train_size=256",
    "eval.tasks=[zeroshot,classifier,linear_probe]",
]


@pytest.fixture(scope="session")
def world_cache(tmp_path_factory) -> str:
    """One rendered-world cache for the whole session."""
    return str(tmp_path_factory.mktemp("mmcl_cache"))


@pytest.fixture
def tiny_overrides(world_cache: str, tmp_path) -> list[str]:
    return [*TINY, f"data.cache_dir={world_cache}", f"out_dir={tmp_path / 'runs'}"]


def write_idx(path, array) -> None:
    """An idx file (big-endian header, uint8 payload) as Fashion-MNIST ships, gzipped when
    `path` ends in .gz."""
    import gzip
    import struct

    import numpy as np

    array = np.ascontiguousarray(array, np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory) -> str:
    """A folder of Fashion-MNIST-format idx files (gzipped, as Debian ships them): 60 training
    and 20 test photos, class k a bright block whose width grows with k, so tests of the reader
    and the world run without the real dataset."""
    import numpy as np

    root = tmp_path_factory.mktemp("fashion_mnist")
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("t10k", 20)):
        labels = np.arange(n) % 10
        images = np.zeros((n, 28, 28), np.uint8)
        for i, k in enumerate(labels):
            images[i, 4:24, 12 - k : 16 + k] = rng.integers(60, 255)
        write_idx(root / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{part}-labels-idx1-ubyte.gz", labels)
    return str(root)
