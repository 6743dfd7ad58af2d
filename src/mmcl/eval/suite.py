"""Evaluate one trained model on a world: every task on every split, as result records.

Features are extracted once per split (one forward pass per image) and shared by the tasks:
zero-shot and the class head read heads on top of the backbone features, so they need no
second pass. With `EvalData.feature_dir` set, features are also kept on disk keyed by content
(`mmcl.eval.features.FeatureCache`), so evaluating the same weights again costs no forward pass.
Splits of real data are streamed from disk, and under torchrun (`EvalData.shards`) each rank
extracts a share of every split (`mmcl.eval.split_features`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.record_images import RecordImages
from mmcl.data.worlds import WorldSplit
from mmcl.distributed import Shards
from mmcl.eval import (  # noqa: F401  (each module registers its task in EVAL_TASKS)
    attributes,
    classifier,
    knn,
    linear_probe,
    mmvp,
    retrieval,
    zeroshot,
)
from mmcl.eval.context import EVAL_TASKS, EvalContext
from mmcl.eval.features import FeatureCache, FeatureSet, files_identity, tensors_digest
from mmcl.eval.split_features import Loading, split_features
from mmcl.models.model import ContrastiveModel
from mmcl.models.tokenizer import Tokenizer


@dataclass
class EvalData:
    """The splits of one world: `train` fits the probes, `tests` are scored."""

    dataset: str
    train: WorldSplit
    tests: dict[str, WorldSplit]
    probe_train_size: int = 4000
    probe_backend: str = "auto"  # eval.probe_backend: the linear probe's solver
    # Attribute probes are fitted and scored on a split whose attributes are independent of
    # each other (halves of it), so a probe for `shape` cannot score by reading the background.
    attribute_split: WorldSplit | None = None
    batch_size: int = 512
    # Per test split, the class indices zero-shot chooses among (default: all classes).
    candidate_classes: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # added to every record (seed, hash...)
    feature_dir: Path | None = None  # on-disk feature cache (run_dir/features); None: no cache
    mmvp_pairs: mmvp.PairSet | None = None  # image pairs of the `mmvp` task
    workers: int = 0  # DataLoader workers decoding splits kept on disk (one torch thread each)
    # Which rows this process extracts; Shards.across_ranks() only where every rank evaluates.
    shards: Shards = field(default_factory=Shards)
    # Where images found unreadable while streaming are counted (data.max_bad_fraction).
    bad_data: BadDataLog = field(default_factory=lambda: BadDataLog(0.0, what="evaluation data"))

    def loading(self) -> Loading:
        """How `split_features` reads these splits."""
        return Loading(self.batch_size, self.workers, self.shards, self.bad_data)

    def provides(self) -> set[str]:
        """The data needs (`mmcl.eval.context.DATA_NEEDS`) these splits meet, judged on the
        first test split: real data may lack labels, captions or attributes."""
        test = next(iter(self.tests.values()))
        labelled = bool((test.labels >= 0).any())
        have = {
            "labels": labelled and bool(self.train.class_names),
            # no separate training split (train is a test split): nothing honest to fit on
            "fit_split": labelled
            and self.train is not test
            and bool((self.train.labels >= 0).any()),
            "captions": any(c.strip() for c in test.captions),
            "attributes": bool(test.attributes),
            "mmvp_pairs": self.mmvp_pairs is not None,
        }
        return {need for need, met in have.items() if met}


def task_needs(tasks: Sequence[str]) -> set[str]:
    """What `tasks` need of the data, together (what to load for them)."""
    return {need for name in tasks for need in EVAL_TASKS.get(name).needs}


def scorable_tasks(tasks: Sequence[str], data: EvalData) -> list[str]:
    """The tasks, in order, whose data needs `data` meets."""
    have = data.provides()
    return [name for name in tasks if EVAL_TASKS.get(name).needs <= have]


def periodic_tasks() -> list[str]:
    """The tasks cheap enough to score every `eval.every` steps of training."""
    return [name for name in EVAL_TASKS if EVAL_TASKS.get(name).periodic]


def _split_identity(split: WorldSplit, n: int) -> dict[str, Any]:
    """What the first `n` samples of a split are, by content: a world split carries no config,
    and a digest of exactly the rows evaluated also sees a renderer change. A split kept on disk
    is known by its files (paths, sizes, mtimes) instead: a digest of its pixels would decode
    every image."""
    rows = {"labels": split.labels[:n]}
    rows.update({f"attributes/{k}": v[:n] for k, v in split.attributes.items()})
    captions = "\0".join(split.captions[:n]).encode()
    rows["captions"] = torch.frombuffer(bytearray(captions), dtype=torch.uint8)
    identity = {"split": split.name, "meta": split.meta, "rows": n}
    if isinstance(split.images, RecordImages):
        identity["files"] = files_identity(split.images.files[:n])
    else:
        rows["images"] = split.images[:n]
    return identity | {"content": tensors_digest(rows)}


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
        return split_features(model, split, tokenizer, n, data.loading(), autocast)

    if cache is None:
        return extract()
    identity = {"dataset": data.dataset, **_split_identity(split, n)}
    key = cache.key(identity, "backbone", _preprocessing(split, tokenizer, autocast))
    return cache.get_or_extract(key, extract)


def evaluate_model(
    model: ContrastiveModel,
    model_name: str,
    data: EvalData,
    tasks: Sequence[str],
    tokenizer: Tokenizer | None = None,
    autocast: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """Records of each registered task asked for that applies to this model (zero-shot needs a
    text tower, the class head a classifier), in the order asked."""
    model.eval()
    tokenizer = (tokenizer or Tokenizer()) if model.has_text else None
    cache = None
    if data.feature_dir is not None:
        cache = FeatureCache(data.feature_dir, model, data.shards)

    @functools.cache
    def train() -> FeatureSet:
        """Train features, extracted only if a task fits something on them."""
        progress("features: train")
        return _features(model, data.train, None, data, data.probe_train_size, autocast, cache)

    def features(split: WorldSplit) -> FeatureSet:
        return _features(model, split, None, data, autocast=autocast, cache=cache)

    tests = {}
    for name, split in data.tests.items():
        progress(f"features: {name}")
        tests[name] = _features(model, split, tokenizer, data, autocast=autocast, cache=cache)
    ctx = EvalContext(
        model, model_name, data, tests, tokenizer, autocast, train, features, progress
    )
    chosen = [EVAL_TASKS.get(name) for name in dict.fromkeys(tasks)]
    return [r for task in chosen if task.applies_to(model) for r in task.score(ctx)]
