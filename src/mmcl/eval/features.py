"""Frozen features: one forward pass over a dataset, kept with labels and attributes.

Every eval task reads the same `FeatureSet`, so a model is run once per split and the probes,
kNN, zero-shot and retrieval all see identical features (CLIP_benchmark re-runs the model per
task). Features are stored as float32 on the CPU whatever the model computed in, because
scikit-learn and the recall arithmetic want full precision.

`FeatureCache` keeps extracted sets on disk, keyed by content: a digest of the model's weights,
the identity of the data (a digest of exactly the rows evaluated, or of a file list with sizes
and mtimes), the feature kind and the preprocessing. A second evaluation of the same checkpoint
on the same split costs no forward pass, and any change to weights or data misses the cache
instead of reading stale features. Files are written atomically and carry a checksum of their
tensors, so a truncated or corrupted file is detected and recomputed, never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from mmcl.data.batch import Batch
from mmcl.distributed import Shards
from mmcl.errors import MMCLError
from mmcl.io import atomic_write

log = logging.getLogger(__name__)

FeatureKind = Literal["backbone", "embedding"]
FEATURE_KINDS: tuple[str, ...] = ("backbone", "embedding")


@dataclass
class FeatureSet:
    """Features of every sample of one split, aligned row by row with its annotations.

    features:   (N, F) float32; backbone features or joint-space embeddings.
    labels:     (N,) long class ids, -1 where unknown.
    index:      (N,) long dataset indices.
    attributes: name -> (N,) long value ids (empty for real data).
    texts:      (N, L) long caption tokens, or None for image-only data.
    """

    features: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    texts: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.features.shape[0]

    def subset(self, mask: torch.Tensor) -> FeatureSet:
        """Rows where the boolean `mask` (N,) is true (or the rows a long index tensor lists, in
        its order), every field kept aligned."""
        return FeatureSet(
            features=self.features[mask],
            labels=self.labels[mask],
            index=self.index[mask],
            attributes={name: values[mask] for name, values in self.attributes.items()},
            texts=None if self.texts is None else self.texts[mask],
        )

    def labelled(self) -> FeatureSet:
        """Only the samples whose class is known (label >= 0)."""
        return self.subset(self.labels >= 0)


def concatenate_features(sets: Sequence[FeatureSet]) -> FeatureSet:
    """One FeatureSet whose features are the column-wise concatenation of `sets` (MCL stages).

    The sets must hold the same samples in the same order; the first one's annotations are kept.
    """
    if not sets:
        raise MMCLError("concatenate_features needs at least one FeatureSet")
    first = sets[0]
    for other in sets[1:]:
        if not torch.equal(other.index, first.index):
            raise MMCLError(
                "feature sets to concatenate cover different samples or orders; extract them "
                "from the same split with a non-shuffling loader"
            )
    features = torch.cat([s.features for s in sets], dim=1)  # (N, sum F)
    return replace(first, features=features)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free model)."""
    first = next(iter(model.parameters()), None)
    return torch.device("cpu") if first is None else first.device


@contextlib.contextmanager
def inference(model: nn.Module, autocast: bool = False) -> Iterator[torch.device]:
    """No-grad, eval-mode, optionally bf16-autocast context; restores the model's mode after.

    Yields the model's device so callers can move inputs there.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with (
            torch.no_grad(),
            torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast),
        ):
            yield device
    finally:
        model.train(was_training)


def _image_forward(model: nn.Module, images: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "backbone":
        return model.backbone_features(images)  # (B, F)
    return model.encode_image(images, normalize=True)  # (B, D)


def extract_features(
    model: nn.Module,
    batches: Iterable[Batch],
    kind: FeatureKind = "backbone",
    autocast: bool = False,
) -> FeatureSet:
    """Run the image tower once over `batches` and collect a `FeatureSet`.

    kind="backbone" gives the pooled tower features used by probes and kNN; kind="embedding"
    gives the L2-normalized joint-space embedding used by zero-shot and retrieval.
    """
    if kind not in FEATURE_KINDS:
        raise MMCLError(f"feature kind {kind!r} is not one of {FEATURE_KINDS}; pick one of them")
    parts: dict[str, list[torch.Tensor]] = {"features": [], "labels": [], "index": [], "texts": []}
    attributes: dict[str, list[torch.Tensor]] = {}
    with inference(model, autocast) as device:
        for batch in batches:
            images = batch.images.to(device, non_blocking=True)  # (B, 3, H, W)
            parts["features"].append(_image_forward(model, images, kind).float().cpu())
            parts["labels"].append(batch.labels.cpu())
            parts["index"].append(batch.index.cpu())
            if batch.texts is not None:
                parts["texts"].append(batch.texts.cpu())
            for name, values in batch.attributes.items():
                attributes.setdefault(name, []).append(values.cpu())
    if not parts["features"]:
        raise MMCLError("extract_features got no batches; check the dataset split is not empty")
    n_batches = len(parts["features"])
    texts = torch.cat(parts["texts"]) if len(parts["texts"]) == n_batches else None
    return FeatureSet(
        features=torch.cat(parts["features"]),  # (N, F)
        labels=torch.cat(parts["labels"]).long(),
        index=torch.cat(parts["index"]).long(),
        attributes={
            name: torch.cat(vals).long()
            for name, vals in attributes.items()
            if len(vals) == n_batches  # an attribute missing from some batches is not aligned
        },
        texts=texts,
    )


def encode_texts(
    model: nn.Module, tokens: torch.Tensor, batch_size: int = 512, autocast: bool = False
) -> torch.Tensor:
    """L2-normalized text embeddings (N, D) float32 of token ids (N, L), in chunks."""
    if not getattr(model, "has_text", False):
        raise MMCLError("this model has no text tower (has_text is False); use an image-text model")
    if tokens.shape[0] == 0:
        raise MMCLError("encode_texts got no captions; check the split has texts")
    chunks = []
    with inference(model, autocast) as device:
        for start in range(0, tokens.shape[0], batch_size):
            chunk = tokens[start : start + batch_size].to(device)  # (b, L)
            chunks.append(model.encode_text(chunk, normalize=True).float().cpu())  # (b, D)
    return torch.cat(chunks)  # (N, D)


# ---- the on-disk cache ---------------------------------------------------------------------
CACHE_VERSION = 1  # bump when extraction changes in a way the key does not see


def _hash_tensor(h: Any, tensor: torch.Tensor) -> None:
    """Feed dtype, shape and raw bytes of `tensor` into hash `h` (any dtype, bf16 included)."""
    h.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    h.update(flat.view(torch.uint8).numpy())  # the bytes, without a copy


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """Hex digest of named tensors, independent of dict order."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        h.update(name.encode())
        _hash_tensor(h, tensors[name])
    return h.hexdigest()


def weights_digest(model: nn.Module) -> str:
    """Digest of the model's class and every tensor of its state dict (parameters and buffers)."""
    state = model.state_dict()
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    other = {k: repr(v) for k, v in state.items() if k not in tensors}  # e.g. extra states
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{type(model).__module__}.{type(model).__qualname__}{sorted(other.items())}".encode())
    h.update(tensors_digest(tensors).encode())
    return h.hexdigest()


def files_identity(paths: Iterable[str | os.PathLike]) -> str:
    """Digest of a file dataset's identity: each path with its size and modification time.

    Cheaper than hashing the images of a large folder, and any rewrite of a file changes it. A
    missing file (or an empty path, a row its reader could not parse) counts as missing: it is
    a bad sample that extraction skips, and its reappearance changes the digest.
    """
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        h.update(f"{os.fspath(path)}\0{_file_state(path)}\n".encode())
    return h.hexdigest()


def _file_state(path: str | os.PathLike) -> str:
    """Size and modification time of the file, or why there is none."""
    if not os.fspath(path):
        return "no file"
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        return "missing"
    return f"{stat.st_size}\0{stat.st_mtime_ns}"


def feature_key(
    weights: str, data: dict[str, Any], kind: str, preprocessing: dict[str, Any]
) -> str:
    """The cache key: weights digest + data identity + feature kind + preprocessing."""
    payload = {
        "version": CACHE_VERSION,
        "weights": weights,
        "data": data,
        "kind": kind,
        "preprocessing": preprocessing,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _to_tensors(fs: FeatureSet) -> dict[str, torch.Tensor]:
    tensors = {"features": fs.features, "labels": fs.labels, "index": fs.index}
    tensors.update({f"attributes/{name}": values for name, values in fs.attributes.items()})
    if fs.texts is not None:
        tensors["texts"] = fs.texts
    return tensors


def _from_tensors(tensors: dict[str, torch.Tensor]) -> FeatureSet:
    prefix = "attributes/"
    fs = FeatureSet(
        features=tensors["features"],
        labels=tensors["labels"],
        index=tensors["index"],
        attributes={k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)},
        texts=tensors.get("texts"),
    )
    if any(v.shape[0] != len(fs) for v in tensors.values()):
        raise MMCLError("cached feature tensors have different numbers of rows")
    return fs


class FeatureCache:
    """Feature sets of one model on disk, one file `root/<key>.pt` per (data, kind, preprocessing).

    The weights digest is computed once, when the cache is made for a model: make a new one after
    the weights change (the suite does, per evaluation). With `shards` across torchrun ranks,
    extraction is a collective, so the ranks agree to read the cache or all extract, and only
    the main rank writes.
    """

    def __init__(
        self, root: str | os.PathLike, model: nn.Module, shards: Shards | None = None
    ) -> None:
        self.root = Path(root)
        self.shards = shards or Shards()
        self.weights = weights_digest(model)
        self.hits = 0
        self.misses = 0

    def key(self, data: dict[str, Any], kind: str, preprocessing: dict[str, Any]) -> str:
        return feature_key(self.weights, data, kind, preprocessing)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def load(self, key: str) -> FeatureSet | None:
        """The cached set; None if absent, unreadable, of another key or failing its checksum."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload["version"] != CACHE_VERSION or payload["key"] != key:
                raise MMCLError("written for another key or cache version")
            if tensors_digest(payload["tensors"]) != payload["checksum"]:
                raise MMCLError("checksum mismatch")
            return _from_tensors(payload["tensors"])
        except Exception as err:  # truncated, corrupted or foreign: recompute, never trust it
            log.warning("ignoring bad feature cache file %s (%s); recomputing", path, err)
            return None

    def save(self, key: str, fs: FeatureSet) -> None:
        tensors = _to_tensors(fs)
        payload = {
            "version": CACHE_VERSION,
            "key": key,
            "tensors": tensors,
            "checksum": tensors_digest(tensors),
        }
        atomic_write(self.path(key), lambda handle: torch.save(payload, handle))

    def get_or_extract(self, key: str, extract: Callable[[], FeatureSet]) -> FeatureSet:
        """The cached set for `key`, else `extract()`, stored before it is returned."""
        cached = self.load(key)
        if all(self.shards.gather(cached is not None)):
            self.hits += 1
            return cached
        self.misses += 1
        fs = extract()
        if self.shards.is_main:
            self.save(key, fs)
        return fs
