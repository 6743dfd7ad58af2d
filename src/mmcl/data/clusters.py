"""K-means pseudo-labels and their accumulation across stages, for MCL (Zhang et al. 2024).

After each MCL stage the training set's normalized image embeddings are clustered (K = 10 in the
paper); stage j then restricts negatives to samples whose *accumulated* label, the tuple of all
earlier stages' clusters, equals the anchor's (spec mcl2024.md in the shared specs 1.1-1.2).

The released `cluster.py` of the paper reads the latest stage's labels inside its accumulation
loop, so its "accumulated" label collapses to the latest stage; that behaviour is available as
`latest_only=True` for ablations and is not the default.

Backends: faiss when importable (1M x 128 features in seconds), else scikit-learn's
MiniBatchKMeans (the reference implementation's choice).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmcl.errors import MMCLError

BACKENDS = ("auto", "faiss", "sklearn")
SAMPLE_PER_CENTROID = 2_000  # faiss: centroid-fitting sample per cluster (its default: 256)


@dataclass
class Clustering:
    """labels (N,) int64 in [0, K); centroids (K, D) float32; which backend produced them."""

    labels: np.ndarray
    centroids: np.ndarray
    backend: str


def resolve_backend(name: str) -> str:
    """`auto` -> faiss when installed, else sklearn; an explicit faiss must be installed."""
    if name not in BACKENDS:
        raise MMCLError(f"method.mcl.backend = {name!r}; valid: {', '.join(BACKENDS)}")
    has_faiss = importlib.util.find_spec("faiss") is not None
    if name == "faiss" and not has_faiss:
        raise MMCLError(
            "method.mcl.backend=faiss but faiss is not installed: pip install faiss-cpu"
        )
    if name == "auto":
        return "faiss" if has_faiss else "sklearn"
    return name


def _faiss_kmeans(x: np.ndarray, k: int, seed: int, iters: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    # Centroids are fitted on a random sample of SAMPLE_PER_CENTROID * K rows, then every row is
    # assigned by one matrix product per chunk: 1M x 128 took 9 s on 2 loaded cores this way
    # (bench/bench_kmeans.py) against 36-44 s when faiss fitted on 100k or all rows itself.
    rng = np.random.default_rng(seed)
    sample = (
        x
        if len(x) <= SAMPLE_PER_CENTROID * k
        else x[rng.permutation(len(x))[: SAMPLE_PER_CENTROID * k]]
    )
    kmeans = faiss.Kmeans(x.shape[1], k, niter=iters, seed=seed, verbose=False)
    kmeans.cp.max_points_per_centroid = SAMPLE_PER_CENTROID
    kmeans.train(np.ascontiguousarray(sample))
    centroids = kmeans.centroids.astype(np.float32)
    return nearest_centroid(x, centroids), centroids


def nearest_centroid(x: np.ndarray, centroids: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """(N,) int64 index of each row's nearest centroid (squared Euclidean), in chunks."""
    c = torch.from_numpy(centroids)  # (K, D)
    half_norms = 0.5 * c.square().sum(dim=1)  # (K,)
    labels = [
        (torch.from_numpy(x[i : i + chunk]) @ c.T - half_norms).argmax(dim=1)  # (n, K) -> (n,)
        for i in range(0, len(x), chunk)
    ]
    return torch.cat(labels).numpy().astype(np.int64)


def _sklearn_kmeans(x: np.ndarray, k: int, seed: int, iters: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import MiniBatchKMeans

    # The reference settings: batch 1e6 (full batch at lab sizes), tol 1e-5.
    kmeans = MiniBatchKMeans(
        n_clusters=k, batch_size=min(len(x), 1_000_000), max_iter=iters, tol=1e-5,
        random_state=seed, n_init=3,
    )  # fmt: skip
    labels = kmeans.fit_predict(x)
    return labels.astype(np.int64), kmeans.cluster_centers_.astype(np.float32)


def kmeans(
    features: np.ndarray, k: int, seed: int = 0, backend: str = "auto", iters: int = 100
) -> Clustering:
    """Cluster features (N, D) into `k` groups; rows are used as given (normalize first)."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) < k:
        raise MMCLError(
            f"k-means needs a (N, D) feature matrix with N >= K = {k}; got shape {x.shape} "
            "(lower method.mcl.clusters or use more training samples)"
        )
    name = resolve_backend(backend)
    fit = _faiss_kmeans if name == "faiss" else _sklearn_kmeans
    labels, centroids = fit(x, k, seed, iters)
    return Clustering(labels, centroids, name)


def accumulate_groups(
    stage_labels: Sequence[np.ndarray], k: int, latest_only: bool = False
) -> np.ndarray:
    """Group id (N,) int64 per sample from the cluster labels of all earlier stages.

    Correct accumulation: the mixed-radix number sum_s label_s * K^(t-1-s), i.e. the Cartesian
    product of every earlier partition, relabelled densely to 0..G-1 in order of first value (so
    ids stay small when K^t is huge; empty products simply do not occur). `latest_only`: the
    reference code's behaviour, only the last stage's clusters. No stages: one group (stage 1).
    """
    if not stage_labels:
        raise MMCLError("accumulate_groups needs the labels of at least one stage")
    n = len(stage_labels[0])
    if any(len(labels) != n for labels in stage_labels):
        raise MMCLError("every stage's cluster labels must cover the same samples")
    used = stage_labels[-1:] if latest_only else stage_labels
    code = np.zeros(n, dtype=np.int64)
    for labels in used:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.min() < 0 or labels.max() >= k:
            raise MMCLError(
                f"cluster labels must lie in [0, {k}); got {labels.min()}..{labels.max()}"
            )
        code = code * k + labels
    _, dense = np.unique(code, return_inverse=True)
    return dense.astype(np.int64).reshape(n)
