"""Evaluate one trained model on a world: every task on every split, as result records.

Features are extracted once per split (one forward pass per image) and shared by the tasks:
zero-shot and the class head read heads on top of the backbone features, so they need no
second pass. With `EvalData.feature_dir` set, features are also kept on disk keyed by content
(`mmcl.eval.features.FeatureCache`), so evaluating the same weights again costs no forward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch.utils.data import DataLoader

from mmcl.data.world_dataset import WorldDataset, collate_batches
from mmcl.data.worlds import WorldSplit
from mmcl.eval import attributes, knn, linear_probe, mmvp, retrieval
from mmcl.eval.features import (
    FeatureCache,
    FeatureSet,
    encode_texts,
    extract_features,
    tensors_digest,
)
from mmcl.eval.tasks import make_record
from mmcl.eval.zeroshot import zero_shot_accuracy, zero_shot_classifier
from mmcl.models.model import ContrastiveModel
from mmcl.models.tokenizer import Tokenizer

TOPK = (1, 5)  # zero-shot top-k recorded, as CLIP_benchmark does (acc1, acc5)


@dataclass
class EvalData:
    """The splits of one world: `train` fits the probes, `tests` are scored."""

    dataset: str
    train: WorldSplit
    tests: dict[str, WorldSplit]
    probe_train_size: int = 4000
    # Attribute probes are fitted and scored on a split whose attributes are independent of
    # each other (halves of it), so a probe for `shape` cannot score by reading the background.
    attribute_split: WorldSplit | None = None
    batch_size: int = 512
    # Per test split, the class indices zero-shot chooses among (default: all classes).
    candidate_classes: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # added to every record (seed, hash...)
    feature_dir: Path | None = None  # on-disk feature cache (run_dir/features); None: no cache
    mmvp_pairs: mmvp.PairSet | None = None  # image pairs of the `mmvp` task


def _split_identity(split: WorldSplit, n: int) -> dict[str, Any]:
    """What the first `n` samples of a split are, by content: a world split carries no config,
    and a digest of exactly the rows evaluated also sees a renderer change."""
    rows = {"images": split.images[:n], "labels": split.labels[:n]}
    rows.update({f"attributes/{k}": v[:n] for k, v in split.attributes.items()})
    captions = "\0".join(split.captions[:n]).encode()
    rows["captions"] = torch.frombuffer(bytearray(captions), dtype=torch.uint8)
    return {"split": split.name, "meta": split.meta, "rows": n, "content": tensors_digest(rows)}


def _preprocessing(split: WorldSplit, tokenizer, autocast: bool) -> dict[str, Any]:
    """Everything between the stored split and the features that the key must see."""
    tokens = None
    if tokenizer is not None:
        tokens = [type(tokenizer).__name__, getattr(tokenizer, "context_length", None)]
    return {
        "normalize": [list(OPENAI_DATASET_MEAN), list(OPENAI_DATASET_STD)],  # WorldDataset's
        "image_size": split.image_size,
        "bf16_autocast": autocast,
        "tokens": tokens,
    }


def _features(
    model: ContrastiveModel,
    split: WorldSplit,
    tokenizer,
    data: EvalData,
    limit: int | None = None,
    autocast: bool = False,
    cache: FeatureCache | None = None,
) -> FeatureSet:
    """Backbone features of the first `limit` samples (all by default), from `cache` if there."""
    n = len(split) if limit is None else min(limit, len(split))

    def extract() -> FeatureSet:
        dataset = WorldDataset(split, tokenizer)
        indices = list(range(n))
        batches = [indices[i : i + data.batch_size] for i in range(0, n, data.batch_size)]
        loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_batches)
        return extract_features(model, loader, kind="backbone", autocast=autocast)

    if cache is None:
        return extract()
    identity = {"dataset": data.dataset, **_split_identity(split, n)}
    key = cache.key(identity, "backbone", _preprocessing(split, tokenizer, autocast))
    return cache.get_or_extract(key, extract)


def _heads(model: ContrastiveModel, features: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    """Joint-space embeddings and class logits computed from backbone features."""
    with torch.no_grad():
        weights = next(model.parameters())
        x = features.to(weights.device)
        embedding = F.normalize(model.image_projection(x), dim=-1).float().cpu()  # (N, D)
        logits = model.classifier(x).float().cpu() if model.has_classifier else None  # (N, C)
    return embedding, logits


def evaluate_model(
    model: ContrastiveModel,
    model_name: str,
    data: EvalData,
    tasks: Sequence[str],
    tokenizer: Tokenizer | None = None,
    autocast: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """Records for each task x split that applies to this model (zero-shot needs a text tower)."""
    model.eval()
    tokenizer = (tokenizer or Tokenizer()) if model.has_text else None
    cache = FeatureCache(data.feature_dir, model) if data.feature_dir is not None else None

    @functools.cache
    def train() -> FeatureSet:
        """Train features, extracted only if a task fits something on them."""
        progress("features: train")
        return _features(model, data.train, None, data, data.probe_train_size, autocast, cache)

    tests = {}
    for name, split in data.tests.items():
        progress(f"features: {name}")
        tests[name] = _features(model, split, tokenizer, data, autocast=autocast, cache=cache)

    def record(task: str, split: str, metric: str, value: float, **extra: Any) -> dict:
        return make_record(
            model_name,
            task,
            data.dataset,
            split,
            len(tests[split]),
            metric,
            value,
            **data.extra,
            **extra,
        )

    records: list[dict[str, Any]] = []
    if "zeroshot" in tasks and model.has_text:
        progress("zero-shot")
        classifier = zero_shot_classifier(
            model, tokenizer, data.train.class_names, data.train.prompt_templates, autocast
        )
        for name, fs in tests.items():
            embedding, _ = _heads(model, fs.features)
            classes = data.candidate_classes.get(name)  # (K,) sorted, or None: all classes
            if classes is None:
                result = zero_shot_accuracy(embedding, classifier, fs.labels, TOPK)
            else:  # a class-subset shift (ImageNet-R, -A, ObjectNet): choose among its classes
                labels = torch.searchsorted(classes, fs.labels)
                result = zero_shot_accuracy(embedding, classifier[:, classes], labels, TOPK)
            n_classes = classifier.shape[1] if classes is None else len(classes)
            for metric, value in result.items():  # top-1, per class, top-5 over > 5 classes
                if metric != f"top{max(TOPK)}_accuracy" or n_classes > max(TOPK):
                    records.append(record("zeroshot", name, metric, value))
    if "classifier" in tasks and model.has_classifier:
        for name, fs in tests.items():
            _, logits = _heads(model, fs.features)
            accuracy = (logits.argmax(-1) == fs.labels).float().mean().item()
            records.append(record("classifier", name, "accuracy", accuracy))
    if "linear_probe" in tasks:
        progress("linear probe")
        probe = linear_probe.fit_linear_probe(train().features, train().labels)
        for name, fs in tests.items():
            accuracy = linear_probe.probe_accuracy(probe, fs.features, fs.labels)
            records.append(record("linear_probe", name, "accuracy", accuracy))
    if "knn" in tasks:
        for name, fs in tests.items():
            accuracy = knn.knn_accuracy(train().features, train().labels, fs.features, fs.labels)
            records.append(record("knn", name, "accuracy", accuracy))
    if "retrieval" in tasks and model.has_text:
        progress("retrieval")
        for name, fs in tests.items():
            embedding, _ = _heads(model, fs.features)
            text, image_of_text = _retrieval_texts(model, data.tests[name], fs, tokenizer, autocast)
            recalls = retrieval.retrieval_recall(embedding, text, image_of_text)
            for metric, value in recalls.items():
                records.append(record("retrieval", name, metric, value))
    if "attributes" in tasks:
        progress("attribute probes")
        records += _attribute_records(model, model_name, data, train, tests, autocast, cache)
    if "mmvp" in tasks and model.has_text and data.mmvp_pairs is not None:
        progress("mmvp pairs")
        records += _mmvp_records(model, model_name, data, tokenizer)
    return records


def _retrieval_texts(
    model: ContrastiveModel, split: WorldSplit, fs: FeatureSet, tokenizer, autocast: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Text embeddings to retrieve among, and each one's image: every caption of each image
    where the split has several (the COCO / Flickr protocol), else its one caption."""
    if not split.caption_sets:
        with torch.no_grad():
            tokens = fs.texts.to(next(model.parameters()).device)
            return model.encode_text(tokens).float().cpu(), None
    captions = [c for captions in split.caption_sets for c in captions]
    image_of_text = torch.tensor([i for i, cs in enumerate(split.caption_sets) for _ in cs])
    return encode_texts(model, tokenizer(captions), autocast=autocast), image_of_text


def _mmvp_records(model, model_name: str, data: EvalData, tokenizer) -> list[dict[str, Any]]:
    """One record per pattern (`pattern` field; "mean" = the benchmark score), in %."""
    pairs = data.mmvp_pairs
    counts = {name: pairs.patterns.count(name) for name in pairs.patterns}
    records = []
    for key, value in mmvp.evaluate(model, pairs, tokenizer).items():
        pattern, metric = key.rsplit("/", 1)
        n = counts.get(pattern, len(pairs))
        records.append(
            make_record(
                model_name,
                "mmvp",
                data.dataset,
                pairs.source,
                n,
                metric,
                value,
                pattern=pattern,
                **data.extra,
            )  # fmt: skip
        )
    return records


def _attribute_records(
    model: ContrastiveModel,
    model_name: str,
    data: EvalData,
    train: Callable[[], FeatureSet],
    tests: dict[str, FeatureSet],
    autocast: bool,
    cache: FeatureCache | None = None,
) -> list[dict[str, Any]]:
    """Per-attribute probes: on halves of the independent split when there is one, else
    fitted on train and scored on `id` (where correlated attributes can stand in for each other).
    """
    if data.attribute_split is not None:
        features = _features(
            model, data.attribute_split, None, data, autocast=autocast, cache=cache
        )
        first = torch.arange(len(features)) < len(features) // 2
        fit, score = features.subset(first), features.subset(~first)
        split = data.attribute_split.name
    else:
        split = "id" if "id" in tests else next(iter(tests))
        fit, score = train(), tests[split]
    records = []
    for key, value in attributes.evaluate(fit, score).items():
        attribute, metric = key.split("/")
        records.append(
            make_record(
                model_name,
                "attributes",
                data.dataset,
                split,
                len(score),
                metric,
                value,
                attribute=attribute,
                **data.extra,
            )
        )
    return records
