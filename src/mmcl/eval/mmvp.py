"""MMVP-style pair benchmark (Tong et al. 2024, MMVP-VLM), scored by the official rule.

Each pair holds two images and one statement per image. Each statement chooses between the two
images: softmax over the images of `scale * cos(image, "a photo of " + statement)`, image 1 when
P(image 1) > 0.5, else image 2 (a tie goes to image 2). A pair counts only when *both* statements
choose their own image, so chance is 25%. A pattern's score is the percentage of its pairs that
count; the benchmark score is the mean over patterns (mcl2024.md section 4 in the shared specs).
The scale is the reference's fixed 100, not the model's learned one.

Two sources of pairs:
- `world_pairs`: rendered from a world (`shapes`, or `fashion`'s real photos), two images
  identical (same nuisance draws) except for exactly one attribute; one pattern per attribute
  the world renders.
- `read_mmvp_vlm`: the real MMVP-VLM folder (`Questions.csv` + `MLLM_VLM Images/<Type>/<id>.jpg`),
  pairs = consecutive rows (odd id, next even id), patterns in the CSV's order.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmcl.data.world_dataset import normalize
from mmcl.data.worlds import backdrops, fashion, get_world, render, shapes
from mmcl.data.worlds.captions import caption
from mmcl.errors import MMCLError
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import inference
from mmcl.registry import Registry

PREFIX = "a photo of "  # the official script's text prefix
SCALE = 100.0  # the reference's fixed logit scale
# The MMVP pattern each world attribute stands in for (for reports; our pattern names are ours).
NEAREST_MMVP_PATTERN = {
    "color": "Color and Appearance",
    "shape": "Structural Characteristics",
    "texture": "State and Condition",
    "position": "Positional and Relational Context",
    "size": "Quantity and Count",
    "style": "Viewpoint and Perspective",
    "background": "Presence of Specific Features",
}
IMAGE_FOLDER = "MLLM_VLM Images"
CSV_COLUMNS = ("Question ID", "Type", "Statement")


@dataclass
class PairSet:
    """P pairs: images (P, 2, 3, H, W) uint8; statements[p] = (image 1, image 2); patterns."""

    images: torch.Tensor
    statements: list[tuple[str, str]]
    patterns: list[str]
    source: str = "pairs"
    # Per pair, the attribute values of its two images (world pairs; empty for real data).
    values: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 5 or self.images.shape[1] != 2:
            raise MMCLError(f"pair images must be (P, 2, 3, H, W), got {tuple(self.images.shape)}")
        if len(self.statements) != n or len(self.patterns) != n:
            raise MMCLError(f"{n} pairs need {n} statement pairs and patterns")

    def __len__(self) -> int:
        return len(self.images)


def pair_correct(
    image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, scale: float = SCALE
) -> torch.Tensor:
    """(P,) bool: both statements of a pair pick their own image (the official rule).

    image_embeddings, text_embeddings: (P, 2, D) unit-norm; text j describes image j.
    """
    logits = scale * torch.einsum("pjd,pid->pji", text_embeddings, image_embeddings)  # (P, 2, 2)
    p_first = logits.softmax(dim=-1)[..., 0]  # (P, 2): P(image 1) for each statement
    choice = torch.where(p_first > 0.5, 0, 1)  # (P, 2); a tie goes to image 2
    return (choice == torch.arange(2)).all(dim=1)


def pattern_scores(correct: torch.Tensor, patterns: Sequence[str]) -> dict[str, float]:
    """{pattern: % of its pairs correct} in first-appearance order, plus "mean" over patterns."""
    scores: dict[str, float] = {}
    for name in dict.fromkeys(patterns):
        picked = torch.tensor([p == name for p in patterns])
        scores[name] = 100.0 * correct[picked].float().mean().item()
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def _embed_images(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    flat = images.flatten(0, 1)  # (2P, 3, H, W) uint8
    out = []
    with inference(model) as device:
        for start in range(0, len(flat), batch_size):
            x = normalize(flat[start : start + batch_size]).to(device)
            out.append(model.encode_image(x, normalize=True).float().cpu())
    return torch.cat(out).unflatten(0, (len(images), 2))  # (P, 2, D)


def _embed_texts(model: nn.Module, texts: list[str], tokenizer, batch_size: int) -> torch.Tensor:
    out = []
    with inference(model) as device:
        for start in range(0, len(texts), batch_size):
            tokens = tokenizer(texts[start : start + batch_size]).to(device)
            out.append(model.encode_text(tokens, normalize=True).float().cpu())
    return torch.cat(out)


def model_pair_correct(
    model: nn.Module,
    pairs: PairSet,
    tokenizer: Callable[[list[str]], torch.Tensor],
    scale: float = SCALE,
    batch_size: int = 128,
) -> torch.Tensor:
    """(P,) bool: the model gets pair p right by the official rule (for paired comparisons)."""
    if not getattr(model, "has_text", False):
        raise MMCLError("the MMVP pair benchmark needs an image-text model (has_text is True)")
    images = _embed_images(model, pairs.images, batch_size)  # (P, 2, D)
    texts = [PREFIX + s for pair in pairs.statements for s in pair]
    text_emb = _embed_texts(model, texts, tokenizer, batch_size).unflatten(0, (len(pairs), 2))
    return pair_correct(images, text_emb, scale)


def evaluate(
    model: nn.Module,
    pairs: PairSet,
    tokenizer: Callable[[list[str]], torch.Tensor],
    scale: float = SCALE,
    batch_size: int = 128,
) -> dict[str, float]:
    """`{pattern}/pair_accuracy` (%) per pattern and `mean/pair_accuracy`, image-text models."""
    correct = model_pair_correct(model, pairs, tokenizer, scale, batch_size)
    scores = pattern_scores(correct, pairs.patterns)
    return {f"{name}/pair_accuracy": value for name, value in scores.items()}


# ---- pairs from a world -----------------------------------------------------------------------
# World name -> how it renders pairs: (cfg, patterns (P,), rng) -> (images (P, 2, 3, S, S) uint8,
# first, second: attribute -> (P,) value ids, extra: per pair what else each image shows).
PAIR_WORLDS: Registry[Callable[..., tuple]] = Registry("MMVP pair world")


def _statement(values: dict[str, str], attribute: str, noun: str = "shape") -> str:
    """The caption naming the object and the one attribute the pair differs in, without '.'."""
    mentioned = set() if attribute == noun else {attribute}
    return caption(values, mentioned, noun).rstrip(".")


def renderable_attributes(cfg: Any) -> list[str]:
    """Every attribute the world draws that has more than one value."""
    world, cfg = get_world(cfg)
    return [a for a in cfg.visible_attributes() if len(world.attribute_values[a]) > 1]


def pair_attributes(cfg: Any) -> list[str]:
    """The default patterns: renderable attributes that also vary in training. A pair that
    differs in a value training never shows (sketches when sketch_fraction is 0 or 1) measures
    extrapolation, not suppression; pass it to `world_pairs` explicitly to score it anyway."""
    constant = {"style"} if cfg.sketch_fraction in (0.0, 1.0) else set()
    return [a for a in renderable_attributes(cfg) if a not in constant]


def world_pairs(
    cfg: Any,
    n_pairs: int = 15,
    attributes: Sequence[str] | None = None,
    seed: int = 0,
) -> PairSet:
    """`n_pairs` pairs per attribute of the world whose config `cfg` is (`ShapesConfig`,
    `FashionConfig`: `RunConfig.data.world_config()`), the two images differing in exactly that
    attribute (`PAIR_WORLDS` renders them), each statement naming the object by the world's noun
    and the attribute its pair differs in.
    """
    world, cfg = get_world(cfg)
    attributes = list(attributes or pair_attributes(cfg))
    unknown = [a for a in attributes if a not in renderable_attributes(cfg)]
    if unknown:
        raise MMCLError(
            f"world pairs: {unknown} cannot differ here; pick from {renderable_attributes(cfg)}"
        )
    if world.name not in PAIR_WORLDS:
        raise MMCLError(f"world pairs: no pairs for world {world.name!r} "
                        f"(pairs render for {', '.join(PAIR_WORLDS.names())})")  # fmt: skip
    patterns = np.repeat(attributes, n_pairs)
    rng = np.random.default_rng(seed)
    images, first, second, extra = PAIR_WORLDS.get(world.name)(cfg, patterns, rng)
    names = world.attribute_values
    statements, values = [], []
    for i, attribute in enumerate(patterns):
        pair = tuple(
            {**{a: names[a][side[a][i]] for a in side}, **more[i]}
            for side, more in zip((first, second), extra, strict=True)
        )
        statements.append(tuple(_statement(v, attribute, world.noun) for v in pair))
        values.append(pair)
    return PairSet(images, statements, list(patterns), "world_pairs", values)


def _differ(first: np.ndarray, rows: np.ndarray, allowed: np.ndarray, rng) -> np.ndarray:
    """Values for `rows` uniform over `allowed` minus the first image's (ids of `allowed`)."""
    k = len(allowed)
    position = np.searchsorted(allowed, first[rows])
    return allowed[(position + rng.integers(1, k, len(rows))) % k]


@PAIR_WORLDS.register("shapes")
def shapes_pairs(cfg: shapes.ShapesConfig, patterns: np.ndarray, rng: np.random.Generator):
    """Attributes drawn uniformly (photos; all colours); the second image takes another value
    of the pair's attribute, and both share every nuisance draw (offset, scale, angle,
    brightness, texture phase), so nothing else differs."""
    n = len(patterns)
    first = {a: rng.integers(0, len(v), n) for a, v in shapes.ATTRIBUTE_VALUES.items()}
    first["style"] = np.zeros(n, dtype=np.int64)  # photos, unless style is the attribute
    second = {a: v.copy() for a, v in first.items()}
    for attribute in dict.fromkeys(patterns):
        rows = np.flatnonzero(patterns == attribute)
        k = len(shapes.ATTRIBUTE_VALUES[attribute])
        second[attribute][rows] = (first[attribute][rows] + rng.integers(1, k, len(rows))) % k
    jitter = rng.random((n, len(render.JITTER)))
    both = {a: np.stack([first[a], second[a]], axis=1).reshape(-1) for a in first}
    images = shapes.render_images(both, np.repeat(jitter, 2, axis=0), cfg.image_size, cfg.canvas)
    no_more = [{}] * n
    return images.unflatten(0, (n, 2)), first, second, (no_more, no_more)


def _fashion_photos(labels: np.ndarray, items: np.ndarray, rng) -> np.ndarray:
    """One photo index per entry of `items` (class ids): uniform over that class's photos."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=len(fashion.CLASSES))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order[starts[items] + (rng.random(len(items)) * counts[items]).astype(np.int64)]


@PAIR_WORLDS.register("fashion")
def fashion_pairs(cfg: fashion.FashionConfig, patterns: np.ndarray, rng: np.random.Generator):
    """Pairs of composites from the dataset's test photos (never seen in training), drawn as
    training draws them (the seen tints, the ten training backgrounds; a pair differing into a
    value training never shows would measure extrapolation). A tint or background pair shows one
    photo twice; an `item` pair two photos of different classes; both images share the tint,
    background, offsets and every brightness draw, so nothing else differs."""
    n = len(patterns)
    colors = fashion.ATTRIBUTE_VALUES["color"]
    seen = cfg.seen_colors or [c for c in colors if c not in cfg.heldout_colors]
    allowed = {
        "item": np.arange(len(fashion.CLASSES)),
        "color": np.asarray(sorted(colors.index(c) for c in seen)),
        "background": np.arange(len(backdrops.SEEN)),
        "style": np.arange(len(render.STYLES)),
    }
    first = {a: rng.choice(v, n) for a, v in allowed.items() if a != "style"}
    first["style"] = np.zeros(n, dtype=np.int64)  # photos, unless style is the attribute
    second = {a: v.copy() for a, v in first.items()}
    for attribute in dict.fromkeys(patterns):
        rows = np.flatnonzero(patterns == attribute)
        second[attribute][rows] = _differ(first[attribute], rows, allowed[attribute], rng)
    part = fashion.dataset_part(cfg, "test")
    labels = part.labels.numpy()
    photo = np.stack([_fashion_photos(labels, first["item"], rng), np.zeros(n, np.int64)], 1)
    photo[:, 1] = np.where(patterns == "item", _fashion_photos(labels, second["item"], rng),
                           photo[:, 0])  # fmt: skip
    jitter = rng.random((n, len(fashion.JITTER))).astype(np.float32)
    both = {a: np.stack([first[a], second[a]], axis=1).reshape(-1) for a in first}
    images = fashion.composite(part.images.numpy()[photo.reshape(-1)], both,
                               np.repeat(jitter, 2, axis=0), cfg.canvas)  # fmt: skip
    extra = tuple([{"photo": f"test {int(p)}"} for p in photo[:, j]] for j in range(2))
    return torch.from_numpy(images).unflatten(0, (n, 2)), first, second, extra


# ---- the real MMVP-VLM folder -----------------------------------------------------------------
def _load_image(path: Path, size: int) -> torch.Tensor:
    """(3, size, size) uint8: shorter side resized to `size` (bicubic), centre crop (CLIP's)."""
    from PIL import Image

    if not path.is_file():
        raise MMCLError(f"MMVP image {path} is missing; the folder must hold every <id>.jpg")
    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        ratio = size / min(w, h)
        image = image.resize((max(size, round(w * ratio)), max(size, round(h * ratio))),
                             Image.BICUBIC)  # fmt: skip
        w, h = image.size
        left, top = (w - size) // 2, (h - size) // 2
        image = image.crop((left, top, left + size, top + size))
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def _read_rows(root: Path) -> list[dict[str, str]]:
    path = root / "Questions.csv"
    if not path.is_file():
        raise MMCLError(f"{root}: no Questions.csv; point at the MMVP_VLM folder")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [
            {k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)
        ]
    missing = [c for c in CSV_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise MMCLError(f"{path}: needs columns {', '.join(CSV_COLUMNS)} (missing {missing})")
    if len(rows) % 2:
        raise MMCLError(f"{path}: {len(rows)} rows; pairs are consecutive rows, so it must be even")
    return rows


def read_mmvp_vlm(root: str | Path, image_size: int = 224) -> PairSet:
    """The MMVP-VLM benchmark from a local folder: 135 pairs in 9 patterns for the real data.

    Layout: root/Questions.csv (Question ID, Type, Statement; one row per image, pairs on
    consecutive rows) and root/"MLLM_VLM Images"/<Type>/<Question ID>.jpg (or <Type>/ directly
    under root). A pair's pattern is its first row's Type.
    """
    root = Path(root)
    rows = _read_rows(root)
    folder = root / IMAGE_FOLDER if (root / IMAGE_FOLDER).is_dir() else root
    images, statements, patterns = [], [], []
    for first, second in zip(rows[0::2], rows[1::2], strict=True):
        images.append(
            torch.stack(
                [
                    _load_image(folder / row["Type"] / f"{row['Question ID']}.jpg", image_size)
                    for row in (first, second)
                ]
            )
        )
        statements.append((first["Statement"], second["Statement"]))
        patterns.append(first["Type"])
    return PairSet(torch.stack(images), statements, patterns, "mmvp_vlm")


def model_pattern_scores(
    model: nn.Module, pairs: PairSet, tokenizer, scale: float = SCALE
) -> dict[str, float]:
    """{pattern: %} and "mean" (the metric names of `evaluate` without '/pair_accuracy')."""
    metrics = evaluate(model, pairs, tokenizer, scale)
    return {key.rsplit("/", 1)[0]: value for key, value in metrics.items()}


@eval_task("mmvp", needs_text=True, needs=("mmvp_pairs",))
def score_mmvp(ctx: EvalContext) -> Records:
    """One record per pattern (`pattern` field; "mean" = the benchmark score), in %."""
    pairs = ctx.data.mmvp_pairs
    if pairs is None:
        return []
    ctx.progress("mmvp pairs")
    counts = {name: pairs.patterns.count(name) for name in pairs.patterns}
    records = []
    for key, value in evaluate(ctx.model, pairs, ctx.tokenizer).items():
        pattern, metric = key.rsplit("/", 1)
        n = counts.get(pattern, len(pairs))
        records.append(ctx.record("mmvp", pairs.source, metric, value, n=n, pattern=pattern))
    return records
