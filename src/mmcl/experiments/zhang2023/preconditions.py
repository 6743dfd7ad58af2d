"""zhang2023's preconditions: what a trained claim's own arms must show before it is answerable.

Issue 27: a resampling claim compares SimCLR with and without a teacher's choices; it says
something about CLIP guidance only when (a) the teacher's nearest neighbours share the class well
above chance (else the "new positives" are random images) and (b) plain SimCLR, the arm every
variant changes, reads the class above chance on the claim's own splits (else there is no class
signal to move, and an equivalence holds trivially). Both are read from the run before any
comparison and never from the compared arms' difference; the bars, as multiples of chance and
with their reasons, are configs/zhang2023/preconditions.yaml.

- `neighbour_agreement` measures (a) on one seed's world: the share of the teacher's in-batch
  nearest views (the paper's q(i), over two augmented views of each image, self and partner
  excluded) that share the anchor's class, and the share a random candidate would have.
- `teacher_shares_class` and `simclr_learns` turn per-seed figures into a row's precondition
  (`stats.Precondition.result`), judged on the lower end of the 95% interval over seeds;
  `combine` joins the parts a claim needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mmcl import stats
from mmcl.data.augment import ViewAugment
from mmcl.data.world_dataset import normalize
from mmcl.data.worlds.base import WorldSplit
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.losses.resampled import teacher_similarity
from mmcl.methods.teachers import Teacher
from mmcl.stats import FAILED, MET, NOT_CHECKED, Precondition


@dataclass(frozen=True)
class Bar:
    """A precondition's bar as a multiple of chance, and why it is that multiple."""

    times_chance: float
    reason: str


BARS = read_grid(grid_path("zhang2023", "preconditions.yaml"), ("preconditions",)).table(
    Bar, "preconditions", names=("teacher", "simclr"), kind="precondition"
)
AGREEMENT_BATCHES = 16  # batches of augmented views per seed: 16 x 2 x 128 anchors at tiny


def nearest_views(features: torch.Tensor) -> torch.Tensor:
    """(2B,) q(i) of (2B, D) teacher features ordered [views 1; views 2]: the most similar view
    other than i and its partner (i + B mod 2B), as `losses.resampled` picks new positives."""
    n2 = len(features)
    half = n2 // 2
    similarity = teacher_similarity(features[:half], features[half:])  # (2B, 2B)
    rows = torch.arange(n2)
    excluded = torch.zeros(n2, n2, dtype=torch.bool)
    excluded[rows, rows] = True
    excluded[rows, (rows + half) % n2] = True
    return similarity.masked_fill(excluded, float("-inf")).argmax(dim=1)


def batch_agreement(labels: torch.Tensor, nearest: torch.Tensor) -> tuple[float, float]:
    """(share of anchors whose q(i) shares their class, share a random candidate would) for one
    batch of 2B views with `labels` (2B,) ordered [views 1; views 2]."""
    n2 = len(labels)
    same = (labels[nearest] == labels).float().mean().item()
    counts = torch.bincount(labels)[labels].float()  # (2B,) views of the anchor's class
    chance = ((counts - 2) / (n2 - 2)).mean().item()  # self and partner are never candidates
    return same, chance


def neighbour_agreement(
    teacher: Teacher,
    split: WorldSplit,
    augment: str,
    batch_size: int,
    seed: int,
    n_batches: int = AGREEMENT_BATCHES,
) -> dict[str, float]:
    """{'same_class', 'chance', 'n_anchors'}: the teacher's in-batch neighbour class agreement
    over `n_batches` random batches of `split` (two `augment` views each, as in training)."""
    generator = torch.Generator().manual_seed(seed)
    transform = ViewAugment(split.image_size, augment)
    same, chance = [], []
    for _ in range(n_batches):
        index = torch.randperm(len(split), generator=generator)[:batch_size]
        raw = split.images[index]
        views = torch.cat([normalize(transform(raw, generator)) for _ in range(2)])  # (2B, ...)
        labels = split.labels[index].repeat(2)
        s, c = batch_agreement(labels, nearest_views(teacher.embed(views, labels)))
        same.append(s)
        chance.append(c)
    return {
        "same_class": sum(same) / n_batches,
        "chance": sum(chance) / n_batches,
        "n_anchors": 2 * batch_size * n_batches,
    }


def _interval(est: stats.Estimate, scale: float = 1.0, unit: str = "") -> str:
    low, high = ("?" if v is None else f"{scale * v:.1f}{unit}" for v in est.interval)
    return f"{scale * est.mean:.1f}{unit} [{low}, {high}]"


def teacher_shares_class(agreements: Sequence[dict[str, float]]) -> dict[str, str]:
    """Precondition (a) from per-seed `neighbour_agreement` records: the share of same-class
    neighbours above `BARS['teacher']` x the random candidate's share (seed mean)."""
    bar = BARS["teacher"].times_chance
    rule = Precondition(
        f"the CLIP teacher's in-batch nearest views share the anchor's class at least {bar:g}x "
        "as often as a random view does (lower end of the 95% interval over seeds)"
    )
    rates = [a["same_class"] for a in agreements]
    chance = sum(a["chance"] for a in agreements) / len(agreements)
    # PER_SEED: each seed trains its own teacher on its own world.
    met, est = stats.lower_end_above(rates, None, bar * chance, test=stats.PER_SEED)
    seeds = ", ".join(f"{r:.0%}" for r in rates)
    evidence = (
        f"teacher neighbours of the same class {_interval(est, 100, '%')}, bar {bar * chance:.0%} "
        f"({bar:g}x chance {chance:.1%}); seeds {seeds}"
    )
    return rule.result(met, evidence)


def simclr_learns(
    accuracies: Sequence[float],
    test_se: Sequence[float],
    *,
    n_classes: int,
    splits: str,
    test: str,
) -> dict[str, str]:
    """Precondition (b) from plain SimCLR's per-seed probe accuracies (points) on the claim's
    splits, with their test-sample errors: above `BARS['simclr']` x chance (1 / n_classes)."""
    times = BARS["simclr"].times_chance
    bar = times * 100.0 / n_classes
    rule = Precondition(
        f"plain SimCLR reads the class: its linear probe on {splits} lies above {bar:.0f}% "
        f"({times:g}x chance, {100 / n_classes:.0f}%), lower end of the 95% interval over seeds"
    )
    met, est = stats.lower_end_above(accuracies, test_se, bar, test=test)
    seeds = ", ".join(f"{a:.1f}" for a in accuracies)
    return rule.result(met, f"SimCLR probe {_interval(est, 1, '%')}; seeds {seeds}")


def combine(parts: Sequence[dict[str, str]]) -> dict[str, str]:
    """One precondition field from several: failed if any failed, met if all met, else not
    checked; the rules and evidence joined in order."""
    statuses = [p["status"] for p in parts]
    status = FAILED if FAILED in statuses else MET if set(statuses) == {MET} else NOT_CHECKED
    return {
        "rule": " AND ".join(p["rule"] for p in parts),
        "status": status,
        "evidence": "; ".join(f"{p['evidence']} ({p['status']})" for p in parts),
    }
