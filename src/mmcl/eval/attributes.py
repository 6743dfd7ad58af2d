"""Attribute probes: how much of each generative factor the frozen features still carry.

Feature suppression (Chen, Luo and Li 2021, "Intriguing Properties of Contrastive Losses"; Zhang
et al. 2024, MCL, probes colour, shape and texture one by one) shows up as an attribute that a
linear probe reads barely above its chance level, even though it varies in the data. So every
attribute of the world (shape, colour, texture, background, size, position, style...) gets its
own linear probe, fitted on the train features and scored on a test split, next to two chance
levels: uniform (1 / number of values) and the majority baseline (always guess the most common
train value).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmcl.errors import MMCLError
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import FeatureSet
from mmcl.eval.linear_probe import ProbeConfig, fit_linear_probe, probe_accuracy


@dataclass
class AttributeResult:
    """One attribute's probe. accuracy is None when the attribute is constant in train."""

    name: str
    n_values: int  # distinct values seen in train and test together
    uniform_chance: float  # 1 / n_values
    majority_baseline: float  # test accuracy of always guessing the most common train value
    accuracy: float | None


def _majority_baseline(train_values: torch.Tensor, test_values: torch.Tensor) -> float:
    most_common = torch.bincount(train_values).argmax()
    return (test_values == most_common).float().mean().item()


def probe_attribute(
    name: str, train: FeatureSet, test: FeatureSet, config: ProbeConfig | None = None
) -> AttributeResult:
    """Fit a probe for attribute `name` on `train` and score it on `test`."""
    for split, features in (("train", train), ("test", test)):
        if name not in features.attributes:
            raise MMCLError(f"attribute {name!r} is missing from the {split} features")
        if len(features) == 0:
            raise MMCLError(f"attribute probe for {name!r} got an empty {split} split")
    y_train, y_test = train.attributes[name], test.attributes[name]
    n_values = int(torch.unique(torch.cat([y_train, y_test])).numel())
    constant = torch.unique(y_train).numel() < 2  # nothing to learn; logistic regression can't fit
    accuracy = None
    if not constant:
        probe = fit_linear_probe(train.features, y_train, config)
        accuracy = probe_accuracy(probe, test.features, y_test)
    return AttributeResult(
        name=name,
        n_values=n_values,
        uniform_chance=1.0 / n_values,
        majority_baseline=_majority_baseline(y_train, y_test),
        accuracy=accuracy,
    )


def probe_attributes(
    train: FeatureSet, test: FeatureSet, config: ProbeConfig | None = None
) -> list[AttributeResult]:
    """A probe for every attribute present in both splits, in name order."""
    shared = sorted(set(train.attributes) & set(test.attributes))
    return [probe_attribute(name, train, test, config) for name in shared]


def evaluate(
    train: FeatureSet, test: FeatureSet, config: ProbeConfig | None = None
) -> dict[str, float]:
    """Flat metrics `{attribute}/{accuracy,n_values,uniform_chance,majority_baseline}`.

    An attribute constant in train has no `accuracy` key: it cannot be suppressed or probed.
    """
    metrics: dict[str, float] = {}
    for result in probe_attributes(train, test, config):
        metrics[f"{result.name}/n_values"] = float(result.n_values)
        metrics[f"{result.name}/uniform_chance"] = result.uniform_chance
        metrics[f"{result.name}/majority_baseline"] = result.majority_baseline
        if result.accuracy is not None:
            metrics[f"{result.name}/accuracy"] = result.accuracy
    return metrics


@eval_task("attributes", needs=("attributes",))
def score_attributes(ctx: EvalContext) -> Records:
    """Per-attribute probes: on halves of the independent split when there is one, else
    fitted on train and scored on `id` (where correlated attributes can stand in for each other).
    """
    ctx.progress("attribute probes")
    if ctx.data.attribute_split is not None:
        features = ctx.features(ctx.data.attribute_split)
        first = torch.arange(len(features)) < len(features) // 2
        fit, score = features.subset(first), features.subset(~first)
        split = ctx.data.attribute_split.name
    else:
        split = "id" if "id" in ctx.tests else next(iter(ctx.tests))
        fit, score = ctx.train(), ctx.tests[split]
    records = []
    for key, value in evaluate(fit, score).items():
        attribute, metric = key.split("/")
        records.append(ctx.record("attributes", split, metric, value, n=len(score),
                                  attribute=attribute))  # fmt: skip
    return records
