"""Exact nearest-neighbour index over a whole training set's teacher features (cosine).

The dataset-level form of CLIP-guided resampling (Zhang, Wang & Wang, ICML 2023; spec
zhang2023.md in the shared specs 2.2) takes each sample's positive from its nearest neighbours in
the training set rather than in the batch. The neighbours are computed once, before training:
faiss's exact inner-product index when faiss is importable, else a chunked torch matmul + top-k
(the same result; faiss is only faster). Self matches are removed, so row i never lists i.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mmcl.config import check_choice
from mmcl.errors import MMCLError

BACKENDS = ("auto", "faiss", "torch")
CHUNK = 4096  # query rows per torch matmul: bounds memory at CHUNK x N floats


@dataclass(frozen=True)
class Neighbours:
    """indices (N, k) long, nearest first; similarities (N, k) float32 cosine; the backend used."""

    indices: torch.Tensor
    similarities: torch.Tensor
    backend: str


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def resolve_backend(backend: str) -> str:
    check_choice("nn index backend", backend, BACKENDS)
    if backend == "auto":
        return "faiss" if faiss_available() else "torch"
    if backend == "faiss" and not faiss_available():
        raise MMCLError("nn index backend 'faiss' is not installed: pip install faiss-cpu")
    return backend


def _drop_self(indices: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From k+1 results per row, remove the row's own index (or the last one if absent)."""
    rows = np.arange(len(indices))[:, None]
    is_self = indices == rows  # (N, k+1)
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)  # (N,)
    keep = np.ones_like(is_self)
    keep[np.arange(len(indices)), drop] = False
    return indices[keep].reshape(-1, k), sims[keep].reshape(-1, k)


def _search_faiss(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(max(1, torch.get_num_threads()))  # no oversubscription
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, indices = index.search(x, k + 1)  # (N, k+1) each, best first
    return indices, sims


def _search_torch(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    t = torch.from_numpy(x)
    sims, indices = [], []
    for start in range(0, len(t), CHUNK):
        scores = t[start : start + CHUNK] @ t.T  # (chunk, N)
        top = scores.topk(k + 1, dim=1)
        sims.append(top.values)
        indices.append(top.indices)
    return torch.cat(indices).numpy(), torch.cat(sims).numpy()


def build_neighbours(features: torch.Tensor, k: int, backend: str = "auto") -> Neighbours:
    """The k nearest other samples of every sample by cosine similarity of `features` (N, D)."""
    n = len(features)
    if not 1 <= k < n:
        raise MMCLError(f"method.resampling.index_k={k} must be in [1, {n - 1}] for {n} samples")
    backend = resolve_backend(backend)
    x = np.ascontiguousarray(F.normalize(features.float(), dim=-1).cpu().numpy())  # (N, D)
    search = _search_faiss if backend == "faiss" else _search_torch
    indices, sims = _drop_self(*search(x, k), k)
    as_long, as_float = indices.astype(np.int64), sims.astype(np.float32)
    return Neighbours(torch.from_numpy(as_long), torch.from_numpy(as_float), backend)
