from __future__ import annotations

import math

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.eval import knn
from mmcl.eval.features import FeatureSet
from mmcl.eval.knn import KNNConfig, knn_accuracy, knn_scores


def _brute_force_scores(train_x, train_y, test_x, n_classes, k, temperature):
    """Per test row: cosine to every train row, sort, sum exp(s/T) per class over the top k."""
    out = []
    for q in test_x.tolist():
        qn = math.sqrt(sum(v * v for v in q))
        sims = []
        for row, label in zip(train_x.tolist(), train_y.tolist(), strict=True):
            rn = math.sqrt(sum(v * v for v in row))
            sims.append((sum(a * b for a, b in zip(q, row, strict=True)) / (qn * rn), label))
        votes = [0.0] * n_classes
        for sim, label in sorted(sims, key=lambda s: -s[0])[:k]:
            votes[label] += math.exp(sim / temperature)
        out.append(votes)
    return torch.tensor(out)


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(50, 6, generator=g),
        torch.randint(0, 4, (50,), generator=g),
        torch.randn(23, 6, generator=g),
        torch.randint(0, 4, (23,), generator=g),
    )


@pytest.mark.parametrize("k", [1, 5, 20])
def test_scores_match_brute_force_loop(k):
    train_x, train_y, test_x, _ = _data(0)
    config = KNNConfig(k=k, temperature=0.1, chunk_size=7)  # several chunks, one short
    scores = knn_scores(train_x, train_y, test_x, 4, config)
    expected = _brute_force_scores(train_x, train_y, test_x, 4, k, 0.1)
    assert torch.allclose(scores, expected, rtol=1e-4)


def test_accuracy_matches_brute_force_argmax():
    train_x, train_y, test_x, test_y = _data(1)
    expected = _brute_force_scores(train_x, train_y, test_x, 4, 20, 0.07).argmax(dim=1)
    assert knn_accuracy(train_x, train_y, test_x, test_y) == pytest.approx(
        (expected == test_y).float().mean().item()
    )


def test_k_larger_than_train_uses_all_train_samples():
    train_x, train_y, test_x, _ = _data(2)
    scores = knn_scores(train_x[:3], train_y[:3], test_x, 4, KNNConfig(k=20, temperature=1.0))
    expected = _brute_force_scores(train_x[:3], train_y[:3], test_x, 4, 3, 1.0)
    assert torch.allclose(scores, expected, rtol=1e-4)


def test_evaluate_on_clusters_and_unknown_labels():
    means = torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 5
    g = torch.Generator().manual_seed(4)
    y_train, y_test = (
        torch.randint(0, 3, (90,), generator=g),
        torch.randint(0, 3, (30,), generator=g),
    )
    train = FeatureSet(means[y_train] + torch.randn(90, 8, generator=g), y_train, torch.arange(90))
    test = FeatureSet(means[y_test] + torch.randn(30, 8, generator=g), y_test, torch.arange(30))
    train.labels[:5] = -1  # unknown labels must not vote
    metrics = knn.evaluate(
        train,
        {
            "id": test,
            "random": FeatureSet(torch.randn(30, 8, generator=g), y_test, torch.arange(30)),
        },
    )
    assert metrics["id/accuracy"] == 1.0
    assert metrics["random/accuracy"] < 0.8


def test_empty_split_raises():
    train_x, train_y, test_x, test_y = _data(3)
    with pytest.raises(MMCLError, match="empty"):
        knn_accuracy(train_x, train_y, test_x[:0], test_y[:0])
