"""Linear-probe fit time, torch backend over scikit-learn, on synthetic sets of two sizes.

Both fit the same objective (mmcl.eval.torch_probe) with the same fixed C, from the same
standardized features, with the same thread count (ProbeConfig.threads: threadpoolctl for
scikit-learn's BLAS/OpenMP, torch.set_num_threads for torch). torch runs on the GPU when there
is one. Prints seconds, the ratio torch/sklearn and both test accuracies, next to the load
average (timings are only comparable on an otherwise idle machine).

    python bench/probe_backends.py                              # 5k x 128 x 10, 50k x 512 x 100
    python bench/probe_backends.py --sizes 2000x64x10 --threads 2 --json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from mmcl.eval.linear_probe import ProbeConfig, fit_linear_probe, probe_accuracy
from mmcl.eval.torch_probe import probe_device


def planted(n: int, dim: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, F) features around class means in a subspace of at most 16 dims, noisy enough that
    the classes overlap (so neither solver stops early on a separable set)."""
    means = torch.zeros(classes, dim)
    informative = min(16, dim)
    means[:, :informative] = torch.randn(
        classes, informative, generator=torch.Generator().manual_seed(0)
    )
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    return means[labels] + 1.5 * torch.randn(n, dim, generator=g), labels


def time_backend(backend: str, train, test, config: ProbeConfig) -> tuple[float, float]:
    """Seconds to fit, and test accuracy."""
    start = time.perf_counter()
    probe = fit_linear_probe(*train, ProbeConfig(**{**vars(config), "backend": backend}))
    if probe_device().type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, probe_accuracy(probe, *test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000x128x10,50000x512x100", help="NxFxCLASSES,...")
    parser.add_argument("--C", type=float, default=1.0, help="fixed inverse L2 strength")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = ProbeConfig(C=args.C, threads=args.threads)
    fit_linear_probe(*planted(200, 8, 3, seed=0), ProbeConfig(C=1.0, backend="torch"))  # warm-up
    rows = []
    for size in args.sizes.split(","):
        n, dim, classes = (int(v) for v in size.split("x"))
        train, test = planted(n, dim, classes, seed=1), planted(10_000, dim, classes, seed=2)
        sk_s, sk_acc = time_backend("sklearn", train, test, config)
        th_s, th_acc = time_backend("torch", train, test, config)
        rows.append(
            {"n": n, "features": dim, "classes": classes, "sklearn_s": round(sk_s, 3),
             "torch_s": round(th_s, 3), "ratio_torch_over_sklearn": round(th_s / sk_s, 3),
             "sklearn_acc": sk_acc, "torch_acc": th_acc}
        )  # fmt: skip
    header = {"device": str(probe_device()), "threads": args.threads, "C": args.C}
    header["loadavg"] = os.getloadavg()
    if args.json:
        print(json.dumps({**header, "rows": rows}))
        return
    print(header)
    for r in rows:
        print(
            f"N={r['n']} F={r['features']} classes={r['classes']}: sklearn {r['sklearn_s']} s, "
            f"torch {r['torch_s']} s, torch/sklearn {r['ratio_torch_over_sklearn']}, "
            f"acc {r['sklearn_acc']:.4f} / {r['torch_acc']:.4f}"
        )


if __name__ == "__main__":
    main()
