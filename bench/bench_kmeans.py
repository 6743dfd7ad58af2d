"""Clustering speed for MCL: k-means of N normalized D-dim features into K groups, per backend.

MCL clusters the whole training set after every stage (K = 10 in the paper), so this must take
seconds, not minutes, at 1M x 128 (issue 6). Prints seconds per backend and the agreement (NMI)
with the planted clusters, next to the load average (timings are only comparable when idle).

    python bench/bench_kmeans.py                       # 1M x 128, K=10, faiss and sklearn
    python bench/bench_kmeans.py --n 200000 --backends faiss --json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from mmcl.data.clusters import kmeans


def planted_features(n: int, dim: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) unit-norm float32 features around K random directions, and their true cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)).astype(np.float32)
    truth = rng.integers(0, k, n)
    x = centres[truth] + 0.8 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iters", type=int, default=30)  # method.mcl.kmeans_iters default
    parser.add_argument("--backends", default="faiss,sklearn")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    x, truth = planted_features(args.n, args.dim, args.k)
    rows = []
    for backend in args.backends.split(","):
        start = time.perf_counter()
        result = kmeans(x, args.k, seed=0, backend=backend, iters=args.iters)
        seconds = time.perf_counter() - start
        nmi = normalized_mutual_info_score(truth, result.labels)
        rows.append({"backend": result.backend, "seconds": round(seconds, 2), "nmi": round(nmi, 4)})
    report = {"n": args.n, "dim": args.dim, "k": args.k, "iters": args.iters,
              "load_average": os.getloadavg(), "results": rows}  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"k-means {args.n} x {args.dim} -> K={args.k}, {args.iters} iterations; "
          f"load average {report['load_average']}")  # fmt: skip
    for row in rows:
        print(f"  {row['backend']:8s} {row['seconds']:8.2f} s   NMI with planted {row['nmi']:.3f}")


if __name__ == "__main__":
    main()
