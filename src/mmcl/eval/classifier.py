"""The model's own class head (supervised methods): its accuracy on every split."""

from __future__ import annotations

from mmcl.eval.context import EvalContext, Records, eval_task


@eval_task("classifier", needs_classifier=True)
def score_classifier(ctx: EvalContext) -> Records:
    records = []
    for name, fs in ctx.tests.items():
        _, logits = ctx.heads(fs.features)
        accuracy = (logits.argmax(-1) == fs.labels).float().mean().item()
        records.append(ctx.record("classifier", name, "accuracy", accuracy))
    return records
