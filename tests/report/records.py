"""Results records for report tests, in the shapes the eval tasks write: headline accuracies with
a shift a model fails (1.5%, and exactly 0%), and attribute probes written by the attributes
task itself, so a report test breaks when the task's record format moves under the report."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from mmcl.eval.attributes import score_attributes
from mmcl.eval.features import FeatureSet
from mmcl.eval.tasks import make_record

SPLITS = ("id", "spurious_reversed", "sketch", "unseen_colors")
HEADLINE = {"clip": "zeroshot", "supervised": "classifier"}
# model -> accuracy per split: clip fails spurious_reversed (1.5%, under the old 2% logit floor)
# and scores exactly 0% on sketch, which has no logit at all
ACCURACIES = {"clip": (0.30, 0.015, 0.0, 0.22), "supervised": (0.85, 0.84, 0.60, 0.70)}
# attribute -> values it takes, as many as a shapes world probes (style is constant: no probe)
ATTRIBUTE_VALUES = {"shape": 5, "color": 4, "background": 6, "size": 3, "position": 9,
                    "texture": 2, "style": 1}  # fmt: skip


def accuracy(model: str, task: str, split: str, value: float) -> dict:
    return make_record(model, task, "shapes", split, 1000, "accuracy", value)


def headline_records(model: str, splits: tuple[str, ...] = SPLITS) -> list[dict]:
    """The model's headline accuracies on `splits`, and a linear probe a little above them."""
    accs = dict(zip(SPLITS, ACCURACIES[model], strict=True))
    return [record for split in splits for record in (
        accuracy(model, HEADLINE[model], split, accs[split]),
        accuracy(model, "linear_probe", split, min(1.0, accs[split] + 0.1)),
    )]  # fmt: skip


def _features(n: int, seed: int) -> FeatureSet:
    """Features that carry `shape` (one-hot) and nothing else; every attribute varies but style."""
    rng = torch.Generator().manual_seed(seed)
    attributes = {name: torch.randint(0, k, (n,), generator=rng)
                  for name, k in ATTRIBUTE_VALUES.items()}  # fmt: skip
    attributes["shape"] = torch.arange(n) % ATTRIBUTE_VALUES["shape"]
    onehot = torch.nn.functional.one_hot(attributes["shape"], ATTRIBUTE_VALUES["shape"]).float()
    features = torch.cat([onehot, torch.randn(n, 3, generator=rng)], dim=1)  # (n, 8)
    return FeatureSet(features, attributes["shape"], torch.arange(n), attributes)


def attribute_records(model: str) -> list[dict]:
    """The records `score_attributes` itself writes for one model (fitted on train, scored on
    id), through a context that only names the model and hands over the features."""
    train, test = _features(120, 0), _features(60, 1)
    ctx = SimpleNamespace(
        progress=lambda _message: None,
        data=SimpleNamespace(attribute_split=None),
        tests={"id": test},
        train=lambda: train,
        record=lambda task, split, metric, value, n=None, **extra: make_record(
            model, task, "shapes", split, n, metric, value, **extra
        ),
    )
    return score_attributes(ctx)
