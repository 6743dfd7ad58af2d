"""Weighted k-nearest-neighbour classification on frozen features (Wu et al. 2018, "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination", section 3.4; used by DINO).

Each test sample takes its k most cosine-similar train samples; neighbour j votes for its class
with weight exp(s_j / T). A probe with no fitted parameters, so it measures the geometry of the
representation itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from mmcl.errors import MMCLError
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import FeatureSet


@dataclass
class KNNConfig:
    """Neighbour count and vote temperature."""

    k: int = 20  # InstDisc and DINO's default
    temperature: float = 0.07  # InstDisc's T: sharper weights favour the closest neighbours
    chunk_size: int = 1024  # test rows per similarity matmul, bounds memory at chunk x N_train


def knn_scores(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    config: KNNConfig | None = None,
) -> torch.Tensor:
    """Class vote totals (M, num_classes) of each test sample from its k nearest train samples."""
    config = config or KNNConfig()
    if train_features.shape[0] == 0:
        raise MMCLError("kNN needs a non-empty train split")
    k = min(config.k, train_features.shape[0])
    train = nn.functional.normalize(train_features.float(), dim=1)  # (N, F)
    test = nn.functional.normalize(test_features.float(), dim=1)  # (M, F)
    scores = []
    for start in range(0, test.shape[0], config.chunk_size):
        sims = test[start : start + config.chunk_size] @ train.T  # (b, N)
        top_sims, top_idx = sims.topk(k, dim=1)  # (b, k)
        weights = (top_sims / config.temperature).exp()  # (b, k)
        votes = torch.zeros(sims.shape[0], num_classes)  # (b, C)
        scores.append(votes.scatter_add_(1, train_labels[top_idx], weights))
    return torch.cat(scores) if scores else torch.zeros(0, num_classes)  # (M, C)


def knn_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    config: KNNConfig | None = None,
) -> float:
    """Fraction of test samples whose top-voted class is their label."""
    if train_labels.shape[0] == 0 or test_labels.shape[0] == 0:
        raise MMCLError("kNN got an empty train or test split; check the data")
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_scores(train_features, train_labels.long(), test_features, num_classes, config)
    return (scores.argmax(dim=1) == test_labels).float().mean().item()


def evaluate(
    train: FeatureSet, tests: Mapping[str, FeatureSet], config: KNNConfig | None = None
) -> dict[str, float]:
    """`{split}/accuracy` of kNN from `train` to every test split (unknown labels skipped)."""
    train = train.labelled()
    metrics = {}
    for split, test in tests.items():
        test = test.labelled()
        metrics[f"{split}/accuracy"] = knn_accuracy(
            train.features, train.labels, test.features, test.labels, config
        )
    return metrics


@eval_task("knn", needs=("fit_split",))
def score_knn(ctx: EvalContext) -> Records:
    train = ctx.train()
    return [
        ctx.record(
            "knn",
            name,
            "accuracy",
            knn_accuracy(train.features, train.labels, fs.features, fs.labels),
        )  # fmt: skip
        for name, fs in ctx.tests.items()
    ]
