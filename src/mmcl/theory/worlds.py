"""Finite image-text worlds: a joint pair distribution P_M over N_V images x N_L texts + labels.

Zhang, Wang & Wang (ICML 2023, arXiv 2306.04272) analyse multimodal contrastive learning on such a
world: P_M is the adjacency of the bipartite image-text graph (zhang2023.md in the shared specs,
1.1). Builders here make the worlds the checks of `mmcl.experiments.zhang2023.theory` need:

- `class_structured_world`: C classes, within-class co-occurrence with a text-sharing knob (how
  many distinct same-class images a caption connects) and cross-class caption noise.
- `from_attributes`: images are attribute tuples, texts are captions naming a random subset of
  the attributes (mention probabilities, like the shapes world's caption richness).
- `world_from_matrix`: any validated matrix.
- `augmentation_worlds`: the same views seen by MMCL (paired with captions) and by SSCL (paired
  with their own natural image only, plus an overlap), spec 1.5 item 6. The SSCL augmentation graph
  is the induced graph of a bipartite view-natural world, so one class covers both.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmcl.errors import MMCLError

SUM_TOLERANCE = 1e-8  # |sum(P) - 1| allowed for a joint distribution


@dataclass(frozen=True)
class FiniteWorld:
    """P (N_V, N_L) joint of (image, text) pairs; labels of images (N_V,) and texts (N_L,).

    A text label of -1 means the text names no class (it cannot contradict its image).
    Construction validates everything and raises MMCLError naming the problem.
    """

    P: np.ndarray
    image_labels: np.ndarray
    text_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        _validate_joint(self.P)
        _validate_labels("image_labels", self.image_labels, self.P.shape[0], minimum=0)
        if self.text_labels is not None:
            _validate_labels("text_labels", self.text_labels, self.P.shape[1], minimum=-1)

    @property
    def n_images(self) -> int:
        return self.P.shape[0]

    @property
    def n_texts(self) -> int:
        return self.P.shape[1]

    @property
    def n_classes(self) -> int:
        return int(self.image_labels.max()) + 1

    @property
    def p_v(self) -> np.ndarray:
        return self.P.sum(axis=1)  # (N_V,)

    @property
    def p_l(self) -> np.ndarray:
        return self.P.sum(axis=0)  # (N_L,)


def _validate_joint(P: np.ndarray) -> None:
    if not isinstance(P, np.ndarray) or P.ndim != 2 or P.dtype != np.float64:
        raise MMCLError("FiniteWorld.P must be a 2-D float64 numpy array (use world_from_matrix)")
    if not np.isfinite(P).all():
        raise MMCLError("FiniteWorld.P has NaN/inf entries; give finite probabilities")
    if (P < 0).any():
        raise MMCLError(f"FiniteWorld.P has negative entries (min {P.min():.3g}); clip them to 0")
    if abs(P.sum() - 1.0) > SUM_TOLERANCE:
        raise MMCLError(f"FiniteWorld.P sums to {P.sum():.12g}, not 1; divide it by its sum")
    empty_rows = np.flatnonzero(P.sum(axis=1) == 0)
    if empty_rows.size:
        raise MMCLError(
            f"FiniteWorld.P: images (rows) {empty_rows[:5].tolist()} never occur; drop those rows"
        )
    empty_cols = np.flatnonzero(P.sum(axis=0) == 0)
    if empty_cols.size:
        raise MMCLError(
            f"FiniteWorld.P: texts (columns) {empty_cols[:5].tolist()} never occur; drop them"
        )


def _validate_labels(field: str, labels: np.ndarray, n: int, minimum: int) -> None:
    if not isinstance(labels, np.ndarray) or labels.shape != (n,):
        raise MMCLError(f"FiniteWorld.{field} must be an array of shape ({n},)")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < minimum).any():
        raise MMCLError(f"FiniteWorld.{field} must hold integer class ids >= {minimum}")


def world_from_matrix(
    P: Sequence | np.ndarray,
    image_labels: Sequence[int] | np.ndarray,
    text_labels: Sequence[int] | np.ndarray | None = None,
) -> FiniteWorld:
    """A world from a given joint matrix (validated: non-negative, sums to 1, no empty row/col)."""
    labels_l = None if text_labels is None else np.asarray(text_labels, dtype=np.int64)
    return FiniteWorld(
        np.asarray(P, dtype=np.float64), np.asarray(image_labels, dtype=np.int64), labels_l
    )


def _check_probability(field: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise MMCLError(f"{field} = {value} must be a probability in [0, 1]")


def _within_class_rows(
    n_images: int, n_texts: int, text_sharing: float, rng: np.random.Generator
) -> np.ndarray:
    """(n_images, n_texts) rows summing to 1: own caption (image i -> text i mod T) mixed with a
    random spread over every same-class text. text_sharing = 0 splits the class into T components;
    larger values connect more distinct images through shared captions."""
    own = np.zeros((n_images, n_texts))
    own[np.arange(n_images), np.arange(n_images) % n_texts] = 1.0
    spread = rng.uniform(0.5, 1.5, size=(n_images, n_texts))
    spread /= spread.sum(axis=1, keepdims=True)
    return (1.0 - text_sharing) * own + text_sharing * spread


def class_structured_world(
    n_classes: int,
    images_per_class: int,
    texts_per_class: int,
    cross_class_noise: float = 0.0,
    seed: int = 0,
    text_sharing: float = 0.5,
) -> FiniteWorld:
    """C classes of images and texts, uniform p_V, labels on both sides.

    Each image puts mass 1 - cross_class_noise on its class's texts (`_within_class_rows`) and
    cross_class_noise on the texts of one random other class (a mislabelled caption), so
    alpha_pair = cross_class_noise exactly.
    """
    _check_probability("cross_class_noise", cross_class_noise)
    _check_probability("text_sharing", text_sharing)
    if n_classes < 2 or images_per_class < 1 or texts_per_class < 1:
        raise MMCLError("class_structured_world needs n_classes >= 2 and >= 1 image/text per class")
    rng = np.random.default_rng(seed)
    n_v, n_l = n_classes * images_per_class, n_classes * texts_per_class
    rows = np.zeros((n_v, n_l))
    for c in range(n_classes):
        img = slice(c * images_per_class, (c + 1) * images_per_class)
        rows[img, c * texts_per_class : (c + 1) * texts_per_class] = (
            1.0 - cross_class_noise
        ) * _within_class_rows(images_per_class, texts_per_class, text_sharing, rng)
        for i in range(img.start, img.stop):
            other = (c + rng.integers(1, n_classes)) % n_classes
            weights = rng.uniform(0.5, 1.5, size=texts_per_class)
            cols = slice(other * texts_per_class, (other + 1) * texts_per_class)
            rows[i, cols] = cross_class_noise * weights / weights.sum()
    labels_v = np.repeat(np.arange(n_classes), images_per_class)
    labels_l = np.repeat(np.arange(n_classes), texts_per_class)
    P = rows / n_v
    keep = P.sum(axis=0) > 0  # with zero noise and T > images some texts may be unused
    return FiniteWorld(P[:, keep] / P[:, keep].sum(), labels_v, labels_l[keep])


def _attribute_channel(size: int, mention_prob: float, caption_noise: float) -> np.ndarray:
    """(size, size + 1) P(caption part | value): column j < size names value j, the last column
    is 'not mentioned'. A mentioned value is wrong with probability caption_noise."""
    channel = np.zeros((size, size + 1))
    if size == 1:
        channel[0, 0] = mention_prob
    else:
        named = np.full((size, size), caption_noise / (size - 1))
        np.fill_diagonal(named, 1.0 - caption_noise)
        channel[:, :size] = mention_prob * named
    channel[:, size] = 1.0 - mention_prob
    return channel


def from_attributes(
    attribute_sizes: Sequence[int],
    mention_probs: Sequence[float],
    label_attribute: int = 0,
    caption_noise: float = 0.0,
) -> FiniteWorld:
    """Images = every attribute tuple (uniform); a caption names each attribute independently.

    Attribute a is mentioned with probability mention_probs[a] (caption richness), and a mentioned
    value is wrong with probability caption_noise. Texts are the partial tuples that occur (C-order
    over values 0..size-1 then 'absent'). Image labels are the label attribute's value; a text's
    label is that value if named, else -1.
    """
    if len(attribute_sizes) != len(mention_probs) or not attribute_sizes:
        raise MMCLError("from_attributes: give one mention probability per attribute size")
    if any(s < 1 for s in attribute_sizes):
        raise MMCLError(f"from_attributes: attribute_sizes must be >= 1, got {attribute_sizes}")
    if not 0 <= label_attribute < len(attribute_sizes):
        raise MMCLError(f"from_attributes: label_attribute {label_attribute} out of range")
    for a, q in enumerate(mention_probs):
        _check_probability(f"mention_probs[{a}]", q)
    _check_probability("caption_noise", caption_noise)
    P = np.ones((1, 1))
    for size, q in zip(attribute_sizes, mention_probs, strict=True):
        P = np.kron(P, _attribute_channel(size, q, caption_noise))  # C-order over attributes
    P /= P.shape[0]
    texts = np.array(list(itertools.product(*[range(s + 1) for s in attribute_sizes])))
    images = np.array(list(itertools.product(*[range(s) for s in attribute_sizes])))
    named = texts[:, label_attribute]
    text_labels = np.where(named < attribute_sizes[label_attribute], named, -1)
    keep = P.sum(axis=0) > 0
    return FiniteWorld(P[:, keep], images[:, label_attribute].astype(np.int64), text_labels[keep])


def augmentation_worlds(
    base: FiniteWorld,
    views_per_image: int,
    overlap: float,
    seed: int = 0,
    overlap_cross_class: float | None = None,
) -> tuple[FiniteWorld, FiniteWorld]:
    """(MMCL world, SSCL world) over the same views of `base`'s images (the naturals).

    Natural image x generates its own `views_per_image` views (random weights) with probability
    1 - overlap, else the views of other naturals x' in proportion to the caption-induced
    similarity A_V(x, x') of `base` (augmentations overlap where captions do, with the same label
    noise, only more weakly). With `overlap_cross_class` = e given, the overlap instead goes to
    the other naturals of x's class (uniformly) with probability 1 - e and to those of the other
    classes with probability e: a label-noise knob of its own, so the SSCL world's labeling error
    can be set to match the MMCL world's. MMCL pairs a view with a caption of its natural
    (P_M = Aug @ base.P); SSCL pairs a view with its natural only (P_S = Aug * p(x)), whose
    induced graph is the augmentation graph A(v, v') = E_x[A(v|x) A(v'|x)].
    """
    _check_probability("overlap", overlap)
    if overlap_cross_class is not None:
        _check_probability("overlap_cross_class", overlap_cross_class)
    if views_per_image < 1:
        raise MMCLError(f"augmentation_worlds: views_per_image must be >= 1, got {views_per_image}")
    rng = np.random.default_rng(seed)
    n, m = base.n_images, views_per_image
    owner = np.repeat(np.arange(n), m)  # (n*m,) natural of each view
    view_weights = rng.uniform(0.5, 1.5, size=n * m)
    own = (owner[:, None] == np.arange(n)[None, :]) * view_weights[:, None]  # (n*m, n)
    own /= own.sum(axis=0, keepdims=True)  # column x: A(view | x) over x's own views
    if overlap_cross_class is None:
        similar = (base.P / base.p_l[None, :]) @ base.P.T  # (n, n) caption-induced A_V
    else:
        similar = _class_overlap(base.image_labels, overlap_cross_class)
    np.fill_diagonal(similar, 0.0)
    similar /= np.maximum(similar.sum(axis=0, keepdims=True), 1e-300)
    aug = (1.0 - overlap) * own + overlap * (own @ similar)  # (n*m, n) = A(view | x)
    aug /= aug.sum(axis=0, keepdims=True)  # a natural with no similar one keeps its own views
    labels = base.image_labels[owner]
    mmcl = FiniteWorld(aug @ base.P, labels, base.text_labels)
    sscl = FiniteWorld(aug * base.p_v[None, :], labels, base.image_labels.copy())
    return mmcl, sscl


def _class_overlap(labels: np.ndarray, cross_class: float) -> np.ndarray:
    """(n, n) column x: weight 1 - cross_class spread over x's other same-class naturals and
    cross_class over the other classes' naturals (the diagonal is dropped by the caller)."""
    same = (labels[:, None] == labels[None, :]).astype(float)
    np.fill_diagonal(same, 0.0)
    other = 1.0 - (labels[:, None] == labels[None, :])
    same /= np.maximum(same.sum(axis=0, keepdims=True), 1e-300)
    other /= np.maximum(other.sum(axis=0, keepdims=True), 1e-300)
    return (1.0 - cross_class) * same + cross_class * other
