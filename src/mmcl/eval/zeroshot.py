"""Zero-shot classification from class-name prompts (Radford et al. 2021, CLIP, section 3.1.4).

Each class is described by several prompt templates ("a photo of a {}."); their text embeddings
are L2-normalized, averaged and renormalized (prompt ensembling), giving one unit vector per
class. An image is assigned the class whose vector has the largest cosine similarity.

Every record names the prompts it was scored with (`prompt_provenance`): the template set's
name, and keys of the exact template strings and of the class names in classifier order, whose
lists the results file keeps once (`mmcl.eval.tasks.ContentKey`). These are the prompts the
split itself carries, which is what was used: a world's splits carry the world's own prompts
(`mmcl_world`) whatever `data.prompt_templates` in the saved config says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from mmcl.data.batch import Batch
from mmcl.data.templates import template_set_name
from mmcl.errors import MMCLError
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import encode_texts, extract_features
from mmcl.eval.tasks import pack_correct, provenance_field


def zero_shot_classifier(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    class_names: Sequence[str],
    templates: Sequence[str],
    autocast: bool = False,
) -> torch.Tensor:
    """Class weights (D, C): the ensembled, unit-norm text embedding of each class.

    templates are format strings with one `{}` for the class name.
    """
    if not class_names or not templates:
        raise MMCLError("zero-shot needs at least one class name and one prompt template")
    if any("{}" not in template for template in templates):
        raise MMCLError(f"every zero-shot template needs a '{{}}' for the class name: {templates}")
    prompts = [template.format(name) for name in class_names for template in templates]
    embeddings = encode_texts(model, tokenizer(prompts), autocast=autocast)  # (C*T, D)
    per_class = embeddings.view(len(class_names), len(templates), -1)  # (C, T, D)
    per_class = nn.functional.normalize(per_class, dim=-1).mean(dim=1)  # (C, D)
    return nn.functional.normalize(per_class, dim=-1).T.contiguous()  # (D, C)


def mean_per_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over the classes present in `labels` of the fraction of that class predicted right."""
    recalls = [(predictions[labels == c] == c).float().mean().item() for c in torch.unique(labels)]
    return float(sum(recalls) / len(recalls))


def zero_shot_accuracy(
    image_embeddings: torch.Tensor,
    classifier: torch.Tensor,
    labels: torch.Tensor,
    topk: Sequence[int] = (1,),
) -> dict[str, float]:
    """Top-1 `accuracy`, `mean_per_class_accuracy` and `top{k}_accuracy` for each k > 1 asked.

    image_embeddings (N, D) and classifier (D, C) are compared by dot product, which is cosine
    similarity when both are unit-norm (as `encode_image` and `zero_shot_classifier` give).
    """
    if image_embeddings.shape[0] != labels.shape[0] or image_embeddings.shape[0] == 0:
        raise MMCLError(
            f"zero-shot got {image_embeddings.shape[0]} embeddings for {labels.shape[0]} labels; "
            "they must match and be non-empty"
        )
    logits = image_embeddings.float() @ classifier.float()  # (N, C)
    labels = labels.long()
    ranked = logits.topk(min(max(topk), logits.shape[1]), dim=1).indices  # (N, K)
    hits = ranked == labels[:, None]  # (N, K)
    metrics = {
        "accuracy": hits[:, 0].float().mean().item(),
        "mean_per_class_accuracy": mean_per_class_accuracy(ranked[:, 0], labels),
    }
    for k in topk:
        if k > 1:
            metrics[f"top{k}_accuracy"] = hits[:, :k].any(dim=1).float().mean().item()
    return metrics


def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    tokenizer: Callable[[list[str]], torch.Tensor],
    class_names: Sequence[str],
    templates: Sequence[str],
    topk: Sequence[int] = (1,),
    autocast: bool = False,
) -> dict[str, float]:
    """Zero-shot metrics of `model` on one split; samples with unknown label (-1) are skipped."""
    images = extract_features(model, batches, kind="embedding", autocast=autocast).labelled()
    classifier = zero_shot_classifier(model, tokenizer, class_names, templates, autocast)
    if len(images) and int(images.labels.max()) >= len(class_names):
        raise MMCLError(
            f"labels go up to {int(images.labels.max())} but only {len(class_names)} class names "
            "were given; pass the dataset's full class list"
        )
    return zero_shot_accuracy(images.features, classifier, images.labels, topk)


TOPK = (1, 5)  # zero-shot top-k recorded, as CLIP_benchmark does (acc1, acc5)


def prompt_provenance(templates: Sequence[str], class_names: Sequence[str]) -> dict[str, Any]:
    """Record fields naming the prompts of one split: `template_set` (a preset's name or
    `custom`), `templates_sha256` and `class_names_sha256` (keys of the exact lists, in the
    order the classifier's columns follow)."""
    return {
        "template_set": template_set_name(templates),
        **provenance_field("templates", list(templates)),
        **provenance_field("class_names", list(class_names)),
    }


@eval_task("zeroshot", needs_text=True, needs=("labels",), periodic=True)
def score_zeroshot(ctx: EvalContext) -> Records:
    """Top-1, mean per-class recall and top-5 (over more than 5 classes) on every split; a
    class-subset shift (ImageNet-R, -A, ObjectNet) chooses among its own classes."""
    ctx.progress("zero-shot")
    train = ctx.data.train
    classifier = zero_shot_classifier(
        ctx.model, ctx.tokenizer, train.class_names, train.prompt_templates, ctx.autocast
    )
    records = []
    for name, fs in ctx.tests.items():
        embedding, _ = ctx.heads(fs.features)
        classes = ctx.data.candidate_classes.get(name)  # (K,) sorted, or None: all classes
        weights, labels, names = classifier, fs.labels, list(train.class_names)
        if classes is not None:
            weights, labels = classifier[:, classes], torch.searchsorted(classes, fs.labels)
            names = [names[int(c)] for c in classes]
        result = zero_shot_accuracy(embedding, weights, labels, TOPK)
        correct = (embedding.float() @ weights.float()).argmax(1) == labels.long()
        used = prompt_provenance(train.prompt_templates, names)
        for metric, value in result.items():
            extra = used | ({"correct": pack_correct(correct)} if metric == "accuracy" else {})
            if metric != f"top{max(TOPK)}_accuracy" or weights.shape[1] > max(TOPK):
                records.append(ctx.record("zeroshot", name, metric, value, **extra))
    return records
