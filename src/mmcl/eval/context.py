"""What an eval task is and what it reads: the `EVAL_TASKS` registry of task objects.

A task declares what it needs of the model (a text tower, a class head) and of the data
(`DATA_NEEDS`: labels, a split to fit on, captions, attributes, MMVP pairs), whether it is cheap
enough to log during training (`periodic`), and turns an `EvalContext` (the model, the splits'
features, the tokenizer) into result records. Each task registers itself in its own module
(`@eval_task("zeroshot", needs_text=True, needs=("labels",), periodic=True)`), so adding one
touches one file; `mmcl.eval.suite.evaluate_model` is a loop over the tasks asked for, and what
loads the data asks the tasks what to load and which of them the data can score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mmcl.eval.features import FeatureSet
from mmcl.eval.tasks import make_record
from mmcl.registry import Registry

Records = list[dict[str, Any]]


@dataclass
class EvalContext:
    """One model's evaluation: its test splits' features (one forward pass each), the data
    they came from (an `EvalData`), and helpers the tasks share."""

    model: Any  # ContrastiveModel, OpenCLIPModel or MultiStageModel: the same interface
    model_name: str
    data: Any  # mmcl.eval.suite.EvalData
    tests: dict[str, FeatureSet]
    tokenizer: Callable[[list[str]], torch.Tensor] | None
    autocast: bool
    train: Callable[[], FeatureSet]  # train features, extracted on first use
    features: Callable[[Any], FeatureSet]  # another split's features (cached like the tests)
    progress: Callable[[str], None]

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Joint-space embeddings (N, D) and class logits (N, C) or None, from backbone
        features: zero-shot and the class head need no second forward pass."""
        with torch.no_grad():
            x = features.to(next(self.model.parameters()).device)
            embedding = F.normalize(self.model.image_projection(x), dim=-1).float().cpu()
            has_head = self.model.has_classifier
            logits = self.model.classifier(x).float().cpu() if has_head else None
        return embedding, logits

    def record(
        self, task: str, split: str, metric: str, value: float, n: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        """One result record, counting the split's samples unless `n` says otherwise."""
        n_samples = len(self.tests[split]) if n is None else n
        return make_record(
            self.model_name, task, self.data.dataset, split, n_samples, metric, value,
            **self.data.extra, **extra,
        )  # fmt: skip


# What a task may need of the data, which real data (`mmcl.eval.suite.EvalData.provides`) may
# lack; a world's splits have all of it.
DATA_NEEDS = {
    "labels": "labelled test images and the class names",
    "fit_split": "a labelled training split apart from the test splits, to fit on",
    "captions": "captions of the test images",
    "attributes": "per-image attributes (and the split eval.attribute_split names, loaded)",
    "mmvp_pairs": "MMVP image pairs (the world's, or the folder eval.mmvp_path names)",
}


@dataclass(frozen=True)
class EvalTask:
    """A registered task: what it needs of the model and of the data, whether it is cheap
    enough to run every `eval.every` steps, and how it scores."""

    name: str
    score: Callable[[EvalContext], Records]
    needs_text: bool = False
    needs_classifier: bool = False
    needs: frozenset[str] = frozenset()  # of DATA_NEEDS
    periodic: bool = False  # no fitting, one pass over the test features: logged in training

    def applies_to(self, model: Any) -> bool:
        """Whether this model can be scored by this task (zero-shot needs a text tower...)."""
        return (model.has_text or not self.needs_text) and (
            model.has_classifier or not self.needs_classifier
        )


EVAL_TASKS: Registry[EvalTask] = Registry("eval task")


def eval_task(
    name: str,
    *,
    needs_text: bool = False,
    needs_classifier: bool = False,
    needs: tuple[str, ...] = (),
    periodic: bool = False,
) -> Callable[[Callable[[EvalContext], Records]], Callable[[EvalContext], Records]]:
    """Register the decorated `score(ctx) -> records` as eval task `name`; `needs` names its
    data needs (keys of `DATA_NEEDS`)."""
    unknown = sorted(set(needs) - set(DATA_NEEDS))
    if unknown:
        raise ValueError(
            f"eval task {name!r}: unknown data needs {unknown} (known: {', '.join(DATA_NEEDS)})"
        )

    def decorator(score: Callable[[EvalContext], Records]) -> Callable[[EvalContext], Records]:
        task = EvalTask(name, score, needs_text, needs_classifier, frozenset(needs), periodic)
        EVAL_TASKS.register(name)(task)
        return score

    return decorator
