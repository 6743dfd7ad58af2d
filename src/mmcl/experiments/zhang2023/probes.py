"""Per-seed linear-probe accuracies of the zhang2023 grid, read from its flat records.

Accuracies are in points, each with its binomial test-sample standard error
(`stats.accuracy_se`); a seed is one world + training run. Also the seed-mean table the report
plots, and the learnability note (plain SimCLR against chance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mmcl.stats import Estimate, accuracy_se, difference, estimate

ID_SPLIT = "id"
BASELINE = "simclr"
TEXT_RUN = "text_positives"
SAME_CLASS_METRIC = "new_positive_same_class"  # logged by resampled_simclr
Cells = dict[tuple[str, int, str], tuple[float, float]]


def probe_cells(records: Sequence[dict]) -> dict[tuple[str, int, str], tuple[float, float]]:
    """{(variant, seed, split): (accuracy, test-sample se)} in points, from probe records."""
    cells = {}
    for r in records:
        if r.get("task") == "linear_probe" and "variant" in r:
            se = float(accuracy_se(r["value"], r["n_samples"]))
            cells[(r["variant"], r["seed"], r["split"])] = (100.0 * r["value"], 100.0 * se)
    return cells


def seeds_of(cells: dict, variant: str) -> list[int]:
    return sorted({seed for (v, seed, _) in cells if v == variant})


def splits_of(cells: dict, variant: str) -> list[str]:
    return sorted({split for (v, _, split) in cells if v == variant})


def id_split(cells: dict, variant: str) -> str:
    """`id` on the worlds; the only split (e.g. `val`) on real data."""
    names = splits_of(cells, variant)
    return ID_SPLIT if ID_SPLIT in names else names[0]


def accuracy(cells: dict, variant: str, seed: int, shifted: bool) -> tuple[float, float]:
    """One seed's id accuracy, or its mean over the shifted splits, with the test se."""
    if not shifted:
        return cells[(variant, seed, id_split(cells, variant))]
    values = [cells[(variant, seed, s)] for s in splits_of(cells, variant) if s != ID_SPLIT]
    se = math.sqrt(sum(se**2 for _, se in values)) / len(values)
    return float(np.mean([acc for acc, _ in values])), se


def accuracy_difference(
    cells: dict, a: str, b: str, shifted: bool = False
) -> tuple[Estimate, tuple[float, float]]:
    """Estimate of acc(a) - acc(b) paired by seed, and the two seed-mean accuracies."""
    common = [s for s in seeds_of(cells, a) if s in seeds_of(cells, b)]
    xa = [accuracy(cells, a, s, shifted) for s in common]
    xb = [accuracy(cells, b, s, shifted) for s in common]
    est = difference([x for x, _ in xa], [x for x, _ in xb],
                     [se for _, se in xa], [se for _, se in xb])  # fmt: skip
    return est, (float(np.mean([x for x, _ in xa])), float(np.mean([x for x, _ in xb])))


def has(cells: dict, *variants: str) -> bool:
    return all(seeds_of(cells, v) for v in variants)


def same_class_rate(records: Sequence[dict], variant: str) -> float | None:
    """Seed mean of the logged share of same-class new positives of a variant (None if absent)."""
    values = [r[SAME_CLASS_METRIC] for r in records
              if r.get("variant") == variant and SAME_CLASS_METRIC in r]  # fmt: skip
    return float(np.mean(values)) if values else None


def learnability(records: Sequence[dict], n_classes: int) -> str:
    """Plain SimCLR's id probe accuracy against chance, with its 95% interval (a note, not a
    claim: resampling verdicts mean little while SimCLR sits at chance)."""
    cells = probe_cells(records)
    if not has(cells, BASELINE):
        return ""
    values = [accuracy(cells, BASELINE, s, False) for s in seeds_of(cells, BASELINE)]
    chance = 100.0 / n_classes
    est = estimate([acc - chance for acc, _ in values], [se for _, se in values])
    above = est.low is not None and est.low > 0
    return (
        f"Learnability: plain SimCLR's id probe accuracy is {chance + est.mean:.1f}% against "
        f"chance {chance:.1f}% (difference {est.text(1)} points over {est.n_seeds} seed(s)); "
        + ("it is above chance." if above else "it is not clearly above chance, so the "
           "resampling verdicts here say little about the method (see the world-calibration "
           "issue).")
    )  # fmt: skip


def probe_table(records: Sequence[dict]) -> dict[str, dict[str, float]]:
    """{variant: {split: accuracy in points, seed mean}} of the linear-probe records."""
    cells = probe_cells(records)
    grouped: dict[tuple[str, str], list[float]] = {}
    for (variant, _, split), (acc, _) in cells.items():
        grouped.setdefault((variant, split), []).append(acc)
    table: dict[str, dict[str, float]] = {}
    for (variant, split), values in grouped.items():
        table.setdefault(variant, {})[split] = float(np.mean(values))
    return table


def shift_mean(row: dict[str, float]) -> float:
    """Mean accuracy over the non-id splits (nan when the row has none)."""
    shifts = [v for s, v in row.items() if s != ID_SPLIT]
    return float(np.mean(shifts)) if shifts else float("nan")
