"""What an eval task is and what it reads: the `EVAL_TASKS` registry of task objects.

A task declares what it needs of the model (a text tower, a class head) and turns an
`EvalContext` (the model, the splits' features, the tokenizer) into result records. Each task
registers itself in its own module (`@eval_task("zeroshot", needs_text=True)`), so adding one
touches one file, and `mmcl.eval.suite.evaluate_model` is a loop over the tasks asked for.
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


@dataclass(frozen=True)
class EvalTask:
    """A registered task: what it needs of the model, and how it scores."""

    name: str
    score: Callable[[EvalContext], Records]
    needs_text: bool = False
    needs_classifier: bool = False

    def applies_to(self, model: Any) -> bool:
        """Whether this model can be scored by this task (zero-shot needs a text tower...)."""
        return (model.has_text or not self.needs_text) and (
            model.has_classifier or not self.needs_classifier
        )


EVAL_TASKS: Registry[EvalTask] = Registry("eval task")


def eval_task(
    name: str, *, needs_text: bool = False, needs_classifier: bool = False
) -> Callable[[Callable[[EvalContext], Records]], Callable[[EvalContext], Records]]:
    """Register the decorated `score(ctx) -> records` as eval task `name`."""

    def decorator(score: Callable[[EvalContext], Records]) -> Callable[[EvalContext], Records]:
        EVAL_TASKS.register(name)(EvalTask(name, score, needs_text, needs_classifier))
        return score

    return decorator
