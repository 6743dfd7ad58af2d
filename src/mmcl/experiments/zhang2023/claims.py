"""Zhang, Wang & Wang (ICML 2023): the claims, their rules, and pure functions deciding them.

Every claim is a `mmcl.stats.Claim` fixed here, before any run; each decision function takes raw
per-seed results (theory direction records, pair statistics, linear-probe records) and returns
`Claim.decide` rows, so tests can feed it fabricated numbers. A seed is one independent random
world (theory) or one world + training run (pairs, resampling). Accuracies are in points, with
the binomial test-sample standard error of each probe (`probes`) in the interval.

Removed claims (issue 13), with why:
- `pairs_consistency` (text pairs keep the class as often as augmentation pairs): the shapes
  world's captions always name the shape, so both rates are 1 by construction; consistency is a
  property of the caption generator we chose, not a finding. The rates stay in the pair table.
- The attribute half of `pairs_diversity`: an augmentation pair is two views of one image, whose
  attribute labels are equal by construction. The claim now compares pixel distances between
  the two augmented views, which can go either way.
- `mmcl_vs_sscl_probe` at overlap 0: SSCL's optimum is then not unique, so MMCL won by
  construction; it is now decided on worlds with overlap and matched labeling error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mmcl.experiments.zhang2023.probes import (
    BASELINE,
    TEXT_RUN,
    accuracy_difference,
    has,
    probe_cells,
    same_class_rate,
    splits_of,
)
from mmcl.stats import (
    Claim,
    Equivalent,
    Falls,
    Greater,
    Rises,
    difference,
    estimate,
    slope_estimate,
)

NEGATIVE_SIDE = ("drop_easy_negative", "drop_false_negative", "drop_false_positive")
# Spec 5.6: the positive-side change dominates and the negative-side ones give <= ~1 point, so
# "well ahead" means a gain beyond that 1-point band.
NEW_POSITIVE_MARGIN = 1.0
# Spec 5.6: the negative-side variants land within +0-1.5 points of SimCLR.
NEGATIVE_SIDE_BAND = 1.5
INDEX_COST_SHARE = 0.1  # issue 7: the index build must stay below this share of training time


# ---- the claims, fixed before the run ---------------------------------------------------------
def _greater(id_: str, statement: str, paper: str, figure: str, effect: float = 0.0) -> Claim:
    return Claim(id_, statement, paper, figure, Greater(effect))


THEORY = {
    "noise_direction": Claim(
        "noise_direction",
        "at fixed k, the exact probe error rises with caption noise (alpha_pseudo up)",
        "error rises with the labeling error alpha (spec 5.4)",
        "slope of probe error over caption noise",
        Rises(0.0, "caption noise"),
    ),
    "sharing_direction": Claim(
        "sharing_direction",
        "captions connecting more same-class images (sigma_{k+1} down) lower the probe error",
        "error falls as sigma_{k+1} falls (spec 5.4)",
        "slope of probe error over text sharing",
        Falls(0.0, "text sharing"),
    ),
    "mmcl_vs_sscl_connectivity": _greater(
        "mmcl_vs_sscl_connectivity",
        "at matched labeling error, the text-induced graph is better connected than the "
        "augmentation graph (larger lambda_{k+1} = 1 - sigma_{k+1}^2)",
        "text-induced positives are more diverse (abstract)",
        "lambda_k+1 MMCL - SSCL, mean over caption noise x overlap",
    ),
    "mmcl_vs_sscl_bound": _greater(
        "mmcl_vs_sscl_bound",
        "at matched labeling error and caption noise <= 0.03, the bound 4a/(1-s^2)+8a [recall] "
        "is smaller for MMCL than for SSCL",
        "MMCL's bound is smaller than SSCL's (abstract)",
        "bound SSCL - MMCL, mean over caption noise x overlap",
    ),
    "mmcl_vs_sscl_probe": _greater(
        "mmcl_vs_sscl_probe",
        "at matched labeling error, the exact probe error of MMCL's optimum is lower than SSCL's",
        "MMCL generalises better than SSCL (abstract)",
        "probe error SSCL - MMCL, mean over caption noise x overlap",
    ),
}
PAIRS = {
    "pairs_diversity": _greater(
        "pairs_diversity",
        "two augmented views of images sharing a caption differ more in pixels than two "
        "augmented views of one image",
        "text-induced positives are more diverse (abstract)",
        "mean squared pixel distance of the views, text - augmentation pairs",
    ),
    "pairs_probe": _greater(
        "pairs_probe",
        "SimCLR with text-induced positives probes better than with augmentation positives",
        "MMCL's bound is smaller than SSCL's (spec 1.4)",
        "id probe accuracy (points), text positives - SimCLR",
    ),
}
_NEGATIVE_PAPER = {
    "drop_easy_negative": "+1.1 (62.3 vs 61.2)",
    "drop_false_negative": "+0.2 (61.4 vs 61.2)",
    "drop_false_positive": "+0.6 (61.8 vs 61.2; the repo's code is a no-op)",
}
RESAMPLING = {
    "new_positive_gain": _greater(
        "new_positive_gain",
        f"the CLIP nearest neighbour as an extra positive beats SimCLR by more than "
        f"{NEW_POSITIVE_MARGIN:g} point",
        "61.2 -> 67.4 (+6.2) on ImageNet-100 (spec 3)",
        "id probe accuracy (points), new_positive - SimCLR",
        NEW_POSITIVE_MARGIN,
    ),
    **{
        f"{name}_small": Claim(
            f"{name}_small",
            f"{name} moves SimCLR by less than {NEGATIVE_SIDE_BAND:g} points",
            _NEGATIVE_PAPER[name],
            f"id probe accuracy (points), {name} - SimCLR",
            Equivalent(NEGATIVE_SIDE_BAND),
        )
        for name in NEGATIVE_SIDE
    },
    "new_positive_shift": _greater(
        "new_positive_shift",
        "the new-positive gain carries over to the shifted test sets",
        "not reported (ImageNet only)",
        "mean probe accuracy over the shifts (points), new_positive - SimCLR",
    ),
    "control_label_oracle": _greater(
        "control_label_oracle",
        "a label-oracle teacher gains more than the CLIP teacher",
        "largest gain (spec 5.5 sanity test)",
        "id probe accuracy (points), label-oracle teacher - CLIP teacher",
    ),
    "control_random_projection": _greater(
        "control_random_projection",
        "a random-projection teacher gains less than CLIP (the gain is semantic)",
        "gain shrinks or reverses (spec 5.5)",
        "id probe accuracy (points), CLIP teacher - random-projection teacher",
    ),
    "index_new_positive": _greater(
        "index_new_positive",
        "dataset-level neighbours (an index over the train set) as extra positives beat SimCLR",
        "not in the paper (dataset-level form of AddNewPositive)",
        "id probe accuracy (points), index_new_positive - SimCLR",
    ),
    "index_cost": _greater(
        "index_cost",
        f"building the index costs under {INDEX_COST_SHARE:.0%} of the training time",
        "must not dominate training (issue 7)",
        f"{INDEX_COST_SHARE:g} - index build / training seconds",
    ),
}


# ---- theory ---------------------------------------------------------------------------------
def _matched_mean(record: dict, key: str, sign: int) -> float:
    """Mean over the matched rows of sign * (MMCL - SSCL) of `key`; nan when none matched."""
    rows = [row for row in record["matched"] if row["matched"]]
    values = [sign * (row["mmcl"][key] - row["sscl"][key]) for row in rows]
    return float(np.mean(values)) if values else math.nan


def _matched_detail(records: Sequence[dict], key: str) -> str:
    rows = [row for r in records for row in r["matched"]]
    cells: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for row in rows:
        cells.setdefault((row["noise"], row["overlap"]), []).append(
            (row["mmcl"][key], row["sscl"][key])
        )
    shown = ", ".join(
        f"noise {n:g} overlap {o:g}: {np.mean([m for m, _ in v]):.3g}/"
        f"{np.mean([s for _, s in v]):.3g}"
        for (n, o), v in sorted(cells.items())
    )
    unmatched = sum(not row["matched"] for row in rows)
    return f"MMCL/SSCL {key} (seed means) {shown}; {unmatched} unmatched world(s) left out"


def theory_claims(records: Sequence[dict]) -> list[dict]:
    """Rows of the direction claims from per-seed `theory.direction_record`s."""
    noise = slope_estimate(records[0]["noise"]["levels"],
                           [r["noise"]["probe_error"] for r in records])  # fmt: skip
    sharing = slope_estimate(records[0]["sharing"]["levels"],
                             [r["sharing"]["probe_error"] for r in records])  # fmt: skip
    matched = {
        "mmcl_vs_sscl_connectivity": ("lambda_k1", +1),
        "mmcl_vs_sscl_bound": ("bound", -1),
        "mmcl_vs_sscl_probe": ("probe_error", -1),
    }
    rows = [
        THEORY["noise_direction"].decide(noise, 3, _sweep_detail(records, "noise")),
        THEORY["sharing_direction"].decide(sharing, 3, _sweep_detail(records, "sharing")),
    ]
    for name, (key, sign) in matched.items():
        values = [v for v in (_matched_mean(r, key, sign) for r in records) if math.isfinite(v)]
        if values:  # a seed whose worlds could not be matched has no figure
            rows.append(THEORY[name].decide(estimate(values), 3, _matched_detail(records, key)))
    return rows


def _sweep_detail(records: Sequence[dict], knob: str) -> str:
    levels = records[0][knob]["levels"]
    errors = np.mean([r[knob]["probe_error"] for r in records], axis=0)
    return f"{knob} {levels} -> probe error (seed means) " + ", ".join(f"{e:.3f}" for e in errors)


def _means(a: str, b: str, means: tuple[float, float]) -> str:
    return f"{a} {means[0]:.1f}, {b} {means[1]:.1f} (seed means, %)"


def _teacher_note(records: Sequence[dict]) -> str:
    """'; same-class new positives: CLIP 0.31, oracle 1.00, ...' from the logged metric."""
    names = {"new_positive": "CLIP", "control_label_oracle": "oracle",
             "control_random_projection": "random", "index_new_positive": "index"}  # fmt: skip
    rates = {label: same_class_rate(records, v) for v, label in names.items()}
    shown = ", ".join(f"{label} {rate:.2f}" for label, rate in rates.items() if rate is not None)
    return f"; same-class new positives: {shown}" if shown else ""


# ---- resampling -------------------------------------------------------------------------------
# claim id -> (variant A, variant B, over the shifts?): each claim's figure is acc(A) - acc(B).
COMPARISONS = {
    "new_positive_gain": ("new_positive", BASELINE, False),
    **{f"{name}_small": (name, BASELINE, False) for name in NEGATIVE_SIDE},
    "new_positive_shift": ("new_positive", BASELINE, True),
    "control_label_oracle": ("control_label_oracle", "new_positive", False),
    "control_random_projection": ("new_positive", "control_random_projection", False),
    "index_new_positive": ("index_new_positive", BASELINE, False),
}


def resampling_claims(records: Sequence[dict]) -> list[dict]:
    """Spec 5.5-5.6: each variant against SimCLR (or its control), over seeds."""
    cells = probe_cells(records)
    rows = []
    for name, (a, b, shifted) in COMPARISONS.items():
        if not has(cells, a, b):
            continue
        if shifted and len(splits_of(cells, a)) < 2:
            continue
        est, means = accuracy_difference(cells, a, b, shifted)
        detail = _means(a, b, means) + (_teacher_note(records) if name == "new_positive_gain"
                                        else "")  # fmt: skip
        rows.append(RESAMPLING[name].decide(est, 2, detail))
    cost = index_cost(records)
    if cost is not None:
        rows.append(cost)
    return rows


def index_cost(records: Sequence[dict]) -> dict | None:
    """The index-cost row from the index run's logged seconds (None without that run)."""
    runs = {r["seed"]: r for r in records if r.get("variant") == "index_new_positive"}
    if not runs:
        return None
    ratios = [runs[s]["index_seconds"] / runs[s]["train_seconds"] for s in sorted(runs)]
    est = estimate([INDEX_COST_SHARE - ratio for ratio in ratios])
    detail = "build / training per seed " + ", ".join(f"{r:.3f}" for r in ratios)
    return RESAMPLING["index_cost"].decide(est, 3, detail)


# ---- pairs ------------------------------------------------------------------------------------
def pair_claims(pairs: Sequence[dict], records: Sequence[dict]) -> list[dict]:
    """Pixel diversity of text vs augmentation pairs (per-seed statistics) and the probe of
    SimCLR trained with text-induced positives."""
    rows = []
    if pairs:
        text = [p["text"] for p in pairs]
        aug = [p["augmentation"] for p in pairs]
        est = difference([t["pixel_distance"] for t in text], [a["pixel_distance"] for a in aug],
                         [t["pixel_distance_se"] for t in text],
                         [a["pixel_distance_se"] for a in aug])  # fmt: skip
        differs = np.mean([t["any_nuisance_differs"] for t in text])
        same = np.mean([t["same_class"] for t in text])
        detail = (
            f"any nuisance attribute differs: text {differs:.3f} vs augmentation 0 by "
            f"construction; same class: text {same:.3f}"
        )
        rows.append(PAIRS["pairs_diversity"].decide(est, 4, detail))
    cells = probe_cells(records)
    if has(cells, TEXT_RUN, BASELINE):
        est, means = accuracy_difference(cells, TEXT_RUN, BASELINE)
        rows.append(PAIRS["pairs_probe"].decide(est, 2, _means(TEXT_RUN, BASELINE, means)))
    return rows
