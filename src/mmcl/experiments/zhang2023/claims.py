"""Zhang, Wang & Wang (ICML 2023): the claims, their rules, and pure functions deciding them.

Every claim is a `mmcl.stats.Claim` fixed here, before any run, with its margin and the margin's
reason read from configs/zhang2023/claims.yaml; each decision function takes raw per-seed results
(theory direction records, pair statistics, linear-probe records) and returns `Claim.decide`
rows, so tests can feed it fabricated numbers. The runner passes all rows together through
`mmcl.verdicts.decide_families` (the paper is one family).

Test design (`stats.PER_SEED` / `stats.SHARED`), said again at each call:
- theory: each seed is its own random world (`theory.direction_record(seed)`); there is no test
  set, the figures are exact per world and vary only between worlds: PER_SEED.
- pairs and resampling on the shapes world: each seed renders its own world, test splits
  included (`data.shapes.seed` = the seed), so the per-seed figures already carry their test
  noise: PER_SEED. The paper recipe scores every seed on one ImageNet val set, and on the
  fashion world every seed's test splits show the same pool of 10,000 test photos (re-tinted and
  re-placed per seed): SHARED (the runner says which, `resampling_claims(test=...)`,
  `pair_claims(test=...)`). Either way a difference of two variants of one seed takes the
  paired per-sample error (`probes.accuracy_difference`), widened where test images repeat a
  photo (`probes.photo_design`).

Preconditions (issue 27, `preconditions`): every claim on trained image models states what its
own arms must show first, read from the run and never from the compared arms' difference. All
of them ask that plain SimCLR, the arm every variant changes, reads the class above a bar on
the claim's own splits; those whose variants take the CLIP teacher's choices (the resampling
claims, the controls and the index variant) also ask that the teacher's in-batch neighbours share
the class well above chance. `index_cost` is a timing: no class enters it, none is stated. A
failed precondition leaves the claim inconclusive, "not answerable here" (`mmcl.verdicts`).
`prepared` is the grid's per-seed `prepare_seed` dict ('n_classes', 'teacher'); without it (the
paper recipe's own data) the preconditions are "not checked".

Removed or moved claims, with why:
- `pairs_consistency` (issue 13): the shapes world's captions always name the shape, so both
  rates are 1 by construction. The rates stay in the pair table.
- `pairs_diversity` as "text-pair pixel distance > augmentation-pair distance" (issue 25): with
  partners drawn from the anchor's own marginal that difference is E||m(x) - m(x')||^2 >= 0 in
  expectation (m(x) the mean view of x), so it could not fail. It now asks whether the caption
  partner's extra distance is at least half a random same-class partner's, which can exceed it.
- `mmcl_vs_sscl_bound` (issue 25): at matched alpha the bound 4a/(1-s^2)+8a is monotone in
  lambda_{k+1}, so per world it has the sign of `mmcl_vs_sscl_connectivity`: the same finding.
- `mmcl_vs_sscl_probe` (issue 25): on the matched worlds (caption noise <= 0.03) both exact probe
  errors are 0, an identity; it is the check `matched_probe_exact`. With noisier captions (0.4 and
  up, where MMCL's optimum errs) the SSCL world's symmetric overlap noise leaves its class
  indicators exact, so wherever its optimum is unique its probe error is 0 and the figure could
  not come out for MMCL; where it is not unique the probe error is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmcl.experiments import grids
from mmcl.experiments.grids import Margin, grid_path
from mmcl.experiments.zhang2023.preconditions import combine, simclr_learns, teacher_shares_class
from mmcl.experiments.zhang2023.probes import (
    BASELINE,
    DISTINCT,
    TEXT_RUN,
    Cells,
    accuracy_difference,
    design_effect,
    discordance,
    has,
    probe_cells,
    same_class_rate,
    seed_level,
    seeds_of,
    splits_of,
    test_floor,
)
from mmcl.stats import (
    NOT_CHECKED,
    PER_SEED,
    Claim,
    Equivalent,
    Estimate,
    Falls,
    Greater,
    Rises,
    estimate,
    slope_estimate,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

NEGATIVE_SIDE = ("drop_easy_negative", "drop_false_negative", "drop_false_positive")
CLAIM_IDS = (
    "noise_direction", "sharing_direction", "mmcl_vs_sscl_connectivity",
    "pairs_diversity", "pairs_probe",
    "new_positive_gain", *(f"{name}_small" for name in NEGATIVE_SIDE), "new_positive_shift",
    "control_label_oracle", "control_random_projection", "index_new_positive", "index_cost",
)  # fmt: skip
MARGINS_FILE = grid_path("zhang2023", "claims.yaml")


# ---- margins, fixed before the run --------------------------------------------------------------
def read_margins(path: Path | Traversable = MARGINS_FILE) -> dict[str, Margin]:
    """{claim id: Margin} from the `margins` section of `path`: exactly `CLAIM_IDS`; a missing,
    unknown or mistyped entry is an MMCLError naming the file and the key."""
    return grids.read_margins(path, CLAIM_IDS, "claim")


MARGINS = read_margins()


def _greater(id_: str, statement: str, paper: str, figure: str) -> Claim:
    m = MARGINS[id_]
    return Claim(id_, statement, paper, figure, Greater(m.value, reason=m.reason))


# ---- the claims, fixed before the run ---------------------------------------------------------
def _theory_claims() -> dict[str, Claim]:
    noise, sharing = MARGINS["noise_direction"], MARGINS["sharing_direction"]
    return {
        "noise_direction": Claim(
            "noise_direction",
            "at fixed k, the exact probe error rises with caption noise (alpha_pseudo up)",
            "error rises with the labeling error alpha (spec 5.4)",
            "slope of probe error over caption noise",
            Rises(noise.value, "caption noise", reason=noise.reason),
        ),
        "sharing_direction": Claim(
            "sharing_direction",
            "captions connecting more same-class images (sigma_{k+1} down) lower the probe error",
            "error falls as sigma_{k+1} falls (spec 5.4)",
            "slope of probe error over text sharing",
            Falls(sharing.value, "text sharing", reason=sharing.reason),
        ),
        "mmcl_vs_sscl_connectivity": _greater(
            "mmcl_vs_sscl_connectivity",
            "at matched labeling error, the text-induced graph is better connected than the "
            "augmentation graph (larger lambda_{k+1} = 1 - sigma_{k+1}^2), so its bound "
            "4a/(1-s^2)+8a [recall] is smaller",
            "text-induced positives are more diverse; MMCL's bound is smaller (abstract)",
            "lambda_k+1 MMCL - SSCL, mean over caption noise x overlap",
        ),
    }


THEORY = _theory_claims()
PAIRS = {
    "pairs_diversity": _greater(
        "pairs_diversity",
        f"a caption partner's views differ from the anchor's by at least "
        f"{MARGINS['pairs_diversity'].value:g} of what a random same-class image's do, beyond "
        "two views of one image",
        "text-induced positives are more diverse (abstract)",
        "pixel distance of the views, (text - augmentation) / (same class - augmentation)",
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


def _equivalent(name: str) -> Claim:
    m = MARGINS[f"{name}_small"]
    return Claim(
        f"{name}_small",
        f"{name} moves SimCLR by less than {m.value:g} points",
        _NEGATIVE_PAPER[name],
        f"id probe accuracy (points), {name} - SimCLR",
        Equivalent(m.value, reason=m.reason),
    )


RESAMPLING = {
    "new_positive_gain": _greater(
        "new_positive_gain",
        f"the CLIP nearest neighbour as an extra positive beats SimCLR by more than "
        f"{MARGINS['new_positive_gain'].value:g} point",
        "61.2 -> 67.4 (+6.2) on ImageNet-100 (spec 3)",
        "id probe accuracy (points), new_positive - SimCLR",
    ),
    **{f"{name}_small": _equivalent(name) for name in NEGATIVE_SIDE},
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
        f"building the index costs under {-MARGINS['index_cost'].value:.0%} of the training time",
        "must not dominate training (issue 7)",
        "-(index build / training seconds)",
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
    # PER_SEED: each seed is its own random world; no test set (module docstring).
    noise = slope_estimate(records[0]["noise"]["levels"],
                           [r["noise"]["probe_error"] for r in records], test=PER_SEED)  # fmt: skip
    sharing = slope_estimate(records[0]["sharing"]["levels"],
                             [r["sharing"]["probe_error"] for r in records],
                             test=PER_SEED)  # fmt: skip
    rows = [
        THEORY["noise_direction"].decide(noise, 3, _sweep_detail(records, "noise")),
        THEORY["sharing_direction"].decide(sharing, 3, _sweep_detail(records, "sharing")),
    ]
    key = "lambda_k1"
    values = [v for v in (_matched_mean(r, key, +1) for r in records) if math.isfinite(v)]
    if values:  # a seed whose worlds could not be matched has no figure
        est = estimate(values, test=PER_SEED)  # PER_SEED: one random world per seed
        detail = _matched_detail(records, key) + "; " + _matched_detail(records, "bound")
        rows.append(THEORY["mmcl_vs_sscl_connectivity"].decide(est, 3, detail))
    return rows


def _sweep_detail(records: Sequence[dict], knob: str) -> str:
    levels = records[0][knob]["levels"]
    errors = np.mean([r[knob]["probe_error"] for r in records], axis=0)
    return f"{knob} {levels} -> probe error (seed means) " + ", ".join(f"{e:.3f}" for e in errors)


def _means(a: str, b: str, means: tuple[float, float], unpaired: float, est: Estimate) -> str:
    return (
        f"{a} {means[0]:.1f}, {b} {means[1]:.1f} (seed means, %); per-seed test error of the "
        f"difference {est.se_test:.2f} paired vs {unpaired:.2f} unpaired points ({est.test} "
        "test sets)"
    )


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


# Claims whose arms do not take the CLIP teacher's choices (their precondition is SimCLR's alone).
NO_TEACHER = ("pairs_probe",)


def _not_checked(what: str) -> dict[str, str]:
    return {"rule": what, "status": NOT_CHECKED, "evidence": "not measured on this data"}


def precondition(
    claim_id: str, cells: Cells, shifted: bool, prepared: Sequence[dict], test: str
) -> dict[str, str]:
    """The row's `precondition` field (module docstring): plain SimCLR's probe on the claim's
    splits above its bar and, unless `claim_id` is in `NO_TEACHER`, the CLIP teacher's neighbour
    agreement above its bar. Reads neither compared arm's difference."""
    parts = []
    if claim_id not in NO_TEACHER:
        agreements = [p["teacher"] for p in prepared if "teacher" in p]
        unmeasured = _not_checked("the CLIP teacher's neighbours share the class")
        parts.append(teacher_shares_class(agreements) if agreements else unmeasured)
    n_classes = next((p["n_classes"] for p in prepared if "n_classes" in p), None)
    if n_classes is None or not has(cells, BASELINE):
        parts.append(_not_checked("plain SimCLR reads the class"))
    else:
        levels = [seed_level(cells, BASELINE, s, shifted) for s in seeds_of(cells, BASELINE)]
        splits = "the mean over the shifted splits" if shifted else "the id split"
        parts.append(simclr_learns([a for a, _ in levels], [e for _, e in levels],
                                   n_classes=n_classes, splits=splits, test=test))  # fmt: skip
    return combine(parts)


def _floor_note(cells: Cells, a: str, b: str, shifted: bool, est: Estimate, margin: float) -> str:
    """'; test floor N per seed ...': the test samples below which the equivalence interval
    could not fit inside the margin at these seeds even without training noise."""
    d = discordance(cells, a, b, shifted)
    seed = seeds_of(cells, a)[0]
    record = next(c.record for (v, s, _), c in cells.items() if (v, s) == (a, seed))
    floor = test_floor(d, margin, est.n_seeds, test=est.test)
    here = f"here {record['n_samples']}"
    if DISTINCT in record:  # images repeat photos: count what they are worth independently
        effective = record["n_samples"] / design_effect(record) ** 2
        here += f" images of {record[DISTINCT]} distinct photos, worth at least {effective:.0f}"
    return (
        f"; test floor {floor} samples per split and seed at {est.n_seeds} seeds (discordance "
        f"{d:.2f}), {here}"
    )


def resampling_claims(
    records: Sequence[dict], *, test: str, prepared: Sequence[dict] = ()
) -> list[dict]:
    """Spec 5.5-5.6: each variant against SimCLR (or its control), over seeds. `test` is the
    grid's design: PER_SEED on the worlds (each seed its own test set), SHARED for the paper
    recipe (one val set) and for a world of real test photos every seed shares (`fashion`);
    the per-seed test error is the paired one either way. `prepared`: the grid's per-seed
    dicts, for the preconditions (module docstring)."""
    cells = probe_cells(records)
    rows = []
    for name, (a, b, shifted) in COMPARISONS.items():
        if not has(cells, a, b):
            continue
        if shifted and len(splits_of(cells, a)) < 2:
            continue
        est, means, unpaired = accuracy_difference(cells, a, b, shifted, test=test)
        detail = _means(a, b, means, unpaired, est)
        rule = RESAMPLING[name].rule
        if isinstance(rule, Equivalent):
            detail += _floor_note(cells, a, b, shifted, est, rule.margin)
        if name == "new_positive_gain":
            detail += _teacher_note(records)
        condition = precondition(name, cells, shifted, prepared, test)
        rows.append(RESAMPLING[name].decide(est, 2, detail, condition))
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
    # PER_SEED: each seed's run is timed on its own; no test set.
    est = estimate([-ratio for ratio in ratios], test=PER_SEED)
    detail = "build / training per seed " + ", ".join(f"{r:.3f}" for r in ratios)
    return RESAMPLING["index_cost"].decide(est, 3, detail)


# ---- pairs ------------------------------------------------------------------------------------
def diversity_share(seed_pairs: dict) -> float:
    """(text - augmentation) / (same class - augmentation) mean squared pixel distance of one
    seed's views: the share of a random same-class partner's extra distance that a caption
    partner keeps (nan when the same-class pairs are no farther apart than augmentations)."""
    text, aug, same = (seed_pairs[k]["pixel_distance"] for k in ("text", "augmentation", "class"))
    return (text - aug) / (same - aug) if same > aug else math.nan


def _pairs_detail(pairs: Sequence[dict], kept: int) -> str:
    distance = "/".join(f"{np.mean([p[k]['pixel_distance'] for p in pairs]):.3f}"
                        for k in ("text", "augmentation", "class"))  # fmt: skip
    distinct = np.mean([p["text"]["distinct_image"] for p in pairs])
    differs = np.mean([p["text"]["any_nuisance_differs"] for p in pairs])
    return (
        f"pixel distance text/augmentation/same class (seed means) {distance}; caption partner "
        f"is another image: {distinct:.3f}; any nuisance attribute differs: text {differs:.3f} "
        f"vs augmentation 0 by construction; {len(pairs) - kept} seed(s) left out"
    )


def pair_claims(
    pairs: Sequence[dict],
    records: Sequence[dict],
    prepared: Sequence[dict] = (),
    test: str = PER_SEED,
) -> list[dict]:
    """Pixel diversity of caption partners against augmentation and same-class partners (per-seed
    statistics) and the probe of SimCLR trained with text-induced positives (worlds only, with
    plain SimCLR's precondition from `prepared`); `test` is the probes' test design, PER_SEED
    unless the seeds share test photos (module docstring)."""
    rows = []
    shares = [diversity_share(p) for p in pairs]
    kept = [s for s in shares if math.isfinite(s)]
    if kept:
        est = estimate(kept, test=PER_SEED)  # PER_SEED: each seed's pairs come from its own world
        rows.append(PAIRS["pairs_diversity"].decide(est, 3, _pairs_detail(pairs, len(kept))))
    cells = probe_cells(records)
    if has(cells, TEXT_RUN, BASELINE):
        # The caller's design (module docstring); paired by test image either way.
        est, means, unpaired = accuracy_difference(cells, TEXT_RUN, BASELINE, test=test)
        detail = _means(TEXT_RUN, BASELINE, means, unpaired, est)
        condition = precondition("pairs_probe", cells, False, prepared, test)
        rows.append(PAIRS["pairs_probe"].decide(est, 2, detail, condition))
    return rows
