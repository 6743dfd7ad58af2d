"""The model's own class head (supervised methods): its accuracy on every split."""

from __future__ import annotations

from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.tasks import pack_correct


@eval_task("classifier", needs_classifier=True, needs=("labels",), periodic=True)
def score_classifier(ctx: EvalContext) -> Records:
    records = []
    for name, fs in ctx.tests.items():
        _, logits = ctx.heads(fs.features)
        correct = logits.argmax(-1) == fs.labels
        accuracy = correct.float().mean().item()
        records.append(
            ctx.record("classifier", name, "accuracy", accuracy, correct=pack_correct(correct))
        )
    return records
