"""MMCL's text-induced positive pairs vs SSCL's augmentation pairs on the run's world.

Zhang, Wang & Wang (ICML 2023) read MMCL as SSCL on pseudo-positive image pairs that share a
text (spec zhang2023.md in the shared specs, 1.3-1.4): such pairs should keep the class (small
labeling error alpha) while differing in everything the text does not pin down (diversity, a
better-connected graph), where two augmentations of one image share every attribute.

Here a text-induced pair is (image, another image with the identical caption), drawn as the
theory does: an anchor uniformly, then a partner uniformly among the images with its caption
(itself when the caption is unique). An augmentation pair is (image, the same image), seen as two
independently augmented views. For both we measure on the world's ground-truth attributes:
- semantic consistency: P[same class] (1 for both here: the captions always name the object,
  the world's noun: `shape` on `shapes`, `item` on `fashion`);
- diversity: P[attribute differs] for each nuisance attribute the world has
  (`nuisance_attributes`: `shapes` background, color, texture, size, position; `fashion`
  background and color) and for any of them (0 for augmentation pairs by construction);
- pixel diversity: mean squared distance between the two augmented views (what the encoder
  sees) and its standard error over pairs.
Text minus augmentation distance is E||m(x) - m(x')||^2 >= 0 in expectation (m(x) the mean view
of x; both partners share the anchor's uniform marginal), so it cannot fail. A third kind, a
random *same-class* partner (anchor uniform, partner uniform among the other images of its
class), gives the figure it is compared against: how much of a same-class partner's extra
distance a caption partner keeps (`claims.diversity_share`), which can come out either way.
Then SimCLR is trained with text-induced positives (the registered method `text_simclr`: views
[aug(i), aug(partner(i))], partners from `caption_partners`) and compared with augmentation
positives by linear probe (`text_positive_records`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mmcl.data.augment import ViewAugment
from mmcl.data.world_dataset import normalize
from mmcl.data.worlds.base import World, WorldSplit
from mmcl.experiments.zhang2023 import resampling as zr
from mmcl.experiments.zhang2023.probes import TEXT_RUN
from mmcl.methods.partner_views import caption_partners

# The nuisance attributes in the order the records list them (the shapes world's, unchanged);
# a world's other attributes follow. Never a nuisance: the world's noun (the class) and `style`,
# what the `sketch` shift changes (photo everywhere in training at the grid's sketch_fraction 0).
NUISANCE = ("background", "color", "texture", "size", "position")
NOT_NUISANCE = ("style",)
MAX_VIEW_PAIRS = 1024  # pairs whose views are rendered for the pixel distance
PAIR_KINDS = ("text", "augmentation", "class")  # caption, same-image and same-class partners


def nuisance_attributes(world: World) -> tuple[str, ...]:
    """The attributes of `world` a positive pair may differ in: every one but its noun and
    `NOT_NUISANCE`, `NUISANCE`'s order first; an attribute the world lacks is skipped."""
    names = [a for a in world.attribute_values if a != world.noun and a not in NOT_NUISANCE]
    return tuple(sorted(names, key=lambda a: NUISANCE.index(a) if a in NUISANCE else len(NUISANCE)))


def sample_text_pairs(partners: torch.Tensor, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n (anchor, partner) pairs: anchor uniform, partner uniform among its candidates."""
    rng = np.random.default_rng(seed)
    anchors = rng.integers(0, len(partners), n)
    rows = partners[anchors].numpy()  # (n, K)
    counts = (rows >= 0).sum(axis=1)
    pick = (rng.random(n) * np.maximum(counts, 1)).astype(np.int64)
    chosen = rows[np.arange(n), pick]
    return anchors, np.where(counts > 0, chosen, anchors)


def sample_class_pairs(labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n (anchor, partner) pairs: anchor uniform, partner uniform among the *other* images of
    its class (itself when it is alone in its class)."""
    rng = np.random.default_rng(seed)
    anchors = rng.integers(0, len(labels), n)
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    partners = anchors.copy()
    for i, anchor in enumerate(anchors):
        others = members[labels[anchor]]
        others = others[others != anchor]
        if len(others):
            partners[i] = others[rng.integers(0, len(others))]
    return anchors, partners


def attribute_statistics(
    split: WorldSplit, first: np.ndarray, second: np.ndarray, nuisance: Sequence[str] = NUISANCE
) -> dict:
    """Same-class rate and per-nuisance-attribute difference rates of pairs (first, second);
    a `nuisance` attribute the split does not show (a grey canvas's background) is skipped."""
    labels = split.labels.numpy()
    differs = {
        name: float(np.mean(split.attributes[name].numpy()[first]
                            != split.attributes[name].numpy()[second]))
        for name in nuisance if name in split.attributes
    }  # fmt: skip
    any_differs = np.zeros(len(first), dtype=bool)
    for name in differs:
        attr = split.attributes[name].numpy()
        any_differs |= attr[first] != attr[second]
    return {
        "same_class": float(np.mean(labels[first] == labels[second])),
        "distinct_image": float(np.mean(first != second)),
        "differs": differs,
        "any_nuisance_differs": float(np.mean(any_differs)),
        "mean_nuisance_differs": float(sum(differs.values())),
    }


def view_distance(
    split: WorldSplit, first: np.ndarray, second: np.ndarray, seed: int
) -> tuple[float, float]:
    """Mean squared pixel distance between aug(first) and aug(second) (normalized views, each
    drawn independently), and its standard error over the pairs."""
    augment = ViewAugment(split.image_size)
    g = torch.Generator().manual_seed(seed)
    a = normalize(augment(split.images[torch.from_numpy(first)], g))  # (n, 3, S, S)
    b = normalize(augment(split.images[torch.from_numpy(second)], g))
    per_pair = ((a - b) ** 2).flatten(1).mean(dim=1).double()  # (n,)
    return float(per_pair.mean()), float(per_pair.std() / len(per_pair) ** 0.5)


def _kind_statistics(
    split: WorldSplit, pairs: tuple[np.ndarray, np.ndarray], seed: int, nuisance: Sequence[str]
) -> dict:
    first, second = (ids[:MAX_VIEW_PAIRS] for ids in pairs)
    distance, se = view_distance(split, first, second, seed)
    return {**attribute_statistics(split, *pairs, nuisance), "pixel_distance": distance,
            "pixel_distance_se": se}  # fmt: skip


def pair_statistics(
    split: WorldSplit, n_pairs: int, seed: int = 0, nuisance: Sequence[str] = NUISANCE
) -> dict:
    """Text-induced, augmentation and random same-class pairs: consistency, attribute (the
    world's `nuisance_attributes`) and pixel diversity."""
    partners = caption_partners(split.captions, seed=seed)
    text = sample_text_pairs(partners, n_pairs, seed)
    aug_anchor = np.random.default_rng(seed + 1).integers(0, len(split), n_pairs)
    same_class = sample_class_pairs(split.labels.numpy(), n_pairs, seed + 2)
    return {
        "seed": seed,
        "n_pairs": n_pairs,
        "n_captions": len(set(split.captions)),
        "n_classes": len(split.class_names),
        "text": _kind_statistics(split, text, seed, nuisance),
        "augmentation": _kind_statistics(split, (aug_anchor, aug_anchor), seed, nuisance),
        "class": _kind_statistics(split, same_class, seed, nuisance),
    }


def text_positive_records(seed: int, folder: Path, overrides: list[str]) -> list[dict]:
    """Train SimCLR with text-induced positives (`text_simclr`) on the grid's world; probe
    records."""
    cfg = zr.run_config(TEXT_RUN, seed, folder, [*overrides, "method.name=text_simclr"])
    run = zr.train_run(cfg, folder / TEXT_RUN)
    return zr.probe_records(run, {"variant": TEXT_RUN, "seed": seed})
