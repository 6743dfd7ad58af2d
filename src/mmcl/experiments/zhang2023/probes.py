"""Per-seed linear-probe accuracies of the zhang2023 grid, read from its flat records.

Accuracies are in points. Every variant of a seed is probed on the same test images (one world
per seed, `data.shapes.seed` = the seed, and the full test splits in their fixed order), so a
difference of two variants takes the paired per-sample error (`stats.paired_accuracy_se` of the
records' packed `correct` field), not two binomial errors in quadrature. Whether that error enters
the interval is the test design's business (`stats.PER_SEED` on the worlds, where each seed
renders its own test set; `stats.SHARED` for the paper recipe's one ImageNet val set and for a
world whose seeds draw their test images from one pool of real photos, `fashion`). Also the
seed-mean table the report plots.

Test images that reuse a photo (`fashion` cycles its 10,000 test photos past n_test 10,000, each
time with a new tint and placement) are not independent samples: the runner tags such records
with `photo_design`'s figures, and every test-sample error here is widened by the record's
`test_design_effect` (1 where absent, as on `shapes`, so those figures are unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmcl.eval.tasks import unpack_correct
from mmcl.stats import (
    ALPHA,
    PER_SEED,
    SHARED,
    Estimate,
    accuracy_se,
    estimate,
    paired_accuracy_se,
    t_quantile,
)

ID_SPLIT = "id"
BASELINE = "simclr"
TEXT_RUN = "text_positives"
SAME_CLASS_METRIC = "new_positive_same_class"  # logged by resampled_simclr
DESIGN_EFFECT = "test_design_effect"  # record field: factor on a test-sample error (1 if absent)
DISTINCT = "test_photos"  # record field: distinct source photos among the split's images


def photo_design(photos: Sequence[int]) -> dict[str, float]:
    """{'test_photos': distinct photos, 'test_design_effect': sqrt(sum_c m_c^2 / n)} of a split
    whose n images show `photos` (m_c the images of photo c). The factor bounds how much a
    test-sample error computed as if the n images were independent is too small: the images of
    one photo are correlated at most fully, and a sum of m variables of equal variance v has
    variance at most m^2 v (Cauchy-Schwarz); 1 when no photo repeats."""
    counts = np.unique(np.asarray(photos), return_counts=True)[1]
    effect = math.sqrt(float(np.sum(counts.astype(np.float64) ** 2)) / len(photos))
    return {DISTINCT: int(len(counts)), DESIGN_EFFECT: effect}


def design_effect(record: dict) -> float:
    return float(record.get(DESIGN_EFFECT, 1.0))


@dataclass(frozen=True)
class Cell:
    """One probe record: accuracy and its binomial test-sample error in points, and the record
    (its packed per-sample correctness is read only when a difference needs it)."""

    accuracy: float
    se: float
    record: dict


Cells = dict[tuple[str, int, str], Cell]


def probe_cells(records: Sequence[dict]) -> Cells:
    """{(variant, seed, split): Cell} of the linear-probe records."""
    cells = {}
    for r in records:
        if r.get("task") == "linear_probe" and "variant" in r:
            se = float(accuracy_se(r["value"], r["n_samples"])) * design_effect(r)
            cells[(r["variant"], r["seed"], r["split"])] = Cell(100.0 * r["value"], 100.0 * se, r)
    return cells


def seeds_of(cells: Cells, variant: str) -> list[int]:
    return sorted({seed for (v, seed, _) in cells if v == variant})


def splits_of(cells: Cells, variant: str) -> list[str]:
    return sorted({split for (v, _, split) in cells if v == variant})


def id_split(cells: Cells, variant: str) -> str:
    """`id` on the worlds; the only split (e.g. `val`) on real data."""
    names = splits_of(cells, variant)
    return ID_SPLIT if ID_SPLIT in names else names[0]


def scored_splits(cells: Cells, variant: str, shifted: bool) -> list[str]:
    """The id split, or every shifted split (their mean is the figure)."""
    if not shifted:
        return [id_split(cells, variant)]
    return [s for s in splits_of(cells, variant) if s != ID_SPLIT]


def seed_difference(
    cells: Cells, a: str, b: str, seed: int, shifted: bool
) -> tuple[float, float, float, float]:
    """One seed's acc(a) and acc(b) in points (id, or the mean over the shifts), the paired
    test-sample error of their difference and the unpaired one (two binomial errors in
    quadrature, kept for reading), each widened by the split's `design_effect`. Splits hold
    different images: the mean over S splits has se sqrt(sum se_s^2) / S."""
    acc_a, acc_b, paired, unpaired = [], [], [], []
    for split in scored_splits(cells, a, shifted):
        ca, cb = cells[(a, seed, split)], cells[(b, seed, split)]
        acc_a.append(ca.accuracy)
        acc_b.append(cb.accuracy)
        se = paired_accuracy_se(unpack_correct(ca.record), unpack_correct(cb.record))
        paired.append(100.0 * design_effect(ca.record) * se)
        unpaired.append(math.hypot(ca.se, cb.se))
    n = len(acc_a)
    paired_se = math.sqrt(sum(s**2 for s in paired)) / n
    unpaired_se = math.sqrt(sum(s**2 for s in unpaired)) / n
    return float(np.mean(acc_a)), float(np.mean(acc_b)), paired_se, unpaired_se


def accuracy_difference(
    cells: Cells, a: str, b: str, shifted: bool = False, *, test: str
) -> tuple[Estimate, tuple[float, float], float]:
    """Estimate of acc(a) - acc(b) paired by seed, with the paired per-seed test error, for the
    test design `test`; the two seed-mean accuracies; the mean unpaired test error (reading)."""
    common = [s for s in seeds_of(cells, a) if s in seeds_of(cells, b)]
    rows = np.array([seed_difference(cells, a, b, s, shifted) for s in common])  # (seeds, 4)
    est = estimate(rows[:, 0] - rows[:, 1], rows[:, 2], test=test)
    means = (float(rows[:, 0].mean()), float(rows[:, 1].mean()))
    return est, means, float(np.sqrt(np.mean(rows[:, 3] ** 2)))


def seed_level(cells: Cells, variant: str, seed: int, shifted: bool) -> tuple[float, float]:
    """One seed's accuracy of `variant` in points (id, or the mean over the shifts) and its
    binomial test-sample error (splits hold different images: sqrt(sum se_s^2) / S)."""
    chosen = [cells[(variant, seed, split)] for split in scored_splits(cells, variant, shifted)]
    se = math.sqrt(sum(c.se**2 for c in chosen)) / len(chosen)
    return float(np.mean([c.accuracy for c in chosen])), se


def discordance(cells: Cells, a: str, b: str, shifted: bool = False) -> float:
    """Mean over seeds and scored splits of the share of test samples that exactly one of `a`
    and `b` gets right: the per-sample variance that sets the paired test error."""
    common = [s for s in seeds_of(cells, a) if s in seeds_of(cells, b)]
    pairs = [(cells[(a, s, split)], cells[(b, s, split)])
             for s in common for split in scored_splits(cells, a, shifted)]  # fmt: skip
    shares = [np.mean(unpack_correct(ca.record) != unpack_correct(cb.record)) for ca, cb in pairs]
    return float(np.mean(shares))


def test_floor(
    discordance: float, margin: float, n_seeds: int, alpha: float = ALPHA, test: str = PER_SEED
) -> int:
    """Independent test samples per seed below which a difference's interval cannot lie inside
    +/- `margin` points even with no training noise (d the discordance, `paired_accuracy_se`'s
    per-sample variance): on per-seed test sets the interval's half-width is at least
    t_{n-1} * sqrt(d / n_test / n_seeds), so n_test >= d * (t_{n-1} / (margin / 100)) ** 2 /
    n_seeds; on a shared one it is at least z * sqrt(d / n_test) (the test term is added once,
    undivided, and its df grow without bound as the seed spread vanishes), so n_test >=
    d * (z / (margin / 100)) ** 2 whatever the seeds."""
    if test == SHARED:
        return math.ceil(discordance * (t_quantile(math.inf, alpha) * 100 / margin) ** 2)
    if n_seeds < 2:
        return 0
    return math.ceil(discordance * (t_quantile(n_seeds - 1, alpha) * 100 / margin) ** 2 / n_seeds)


def has(cells: Cells, *variants: str) -> bool:
    return all(seeds_of(cells, v) for v in variants)


def same_class_rate(records: Sequence[dict], variant: str) -> float | None:
    """Seed mean of the logged share of same-class new positives of a variant (None if absent)."""
    values = [r[SAME_CLASS_METRIC] for r in records
              if r.get("variant") == variant and SAME_CLASS_METRIC in r]  # fmt: skip
    return float(np.mean(values)) if values else None


def probe_table(records: Sequence[dict]) -> dict[str, dict[str, float]]:
    """{variant: {split: accuracy in points, seed mean}} of the linear-probe records."""
    grouped: dict[tuple[str, str], list[float]] = {}
    for (variant, _, split), cell in probe_cells(records).items():
        grouped.setdefault((variant, split), []).append(cell.accuracy)
    table: dict[str, dict[str, float]] = {}
    for (variant, split), values in grouped.items():
        table.setdefault(variant, {})[split] = float(np.mean(values))
    return table


def shift_mean(row: dict[str, float]) -> float:
    """Mean accuracy over the non-id splits (nan when the row has none)."""
    shifts = [v for s, v in row.items() if s != ID_SPLIT]
    return float(np.mean(shifts)) if shifts else float("nan")
