"""xue2024's image claims (shapes or real captions): CLIP against a supervised head under shift,
and caption richness, decided over seeds (rules and margins fixed before the run, `claims`).

"Under shift" is the mean accuracy over the non-in-distribution splits. On the `shapes` world
the runner first gates the budget (`mmcl.experiments.calibrated`): where a supervised model
cannot learn the shape, these claims' precondition fails and they stay inconclusive.

Test design, stated by the caller (`images.image_test_design`): on the shapes world each seed
renders its own test splits (`data.shapes.seed` is the run's seed), so the estimates are
`stats.PER_SEED`; on files every seed is scored on the same files, `stats.SHARED`. Either way
every model of one seed is scored on the same images, so a figure that combines models (IMG-C1's
difference, IMG-C4's slope over presets) takes the paired per-sample error of that combination,
read from the accuracy records' per-sample `correct` field, not binomial errors in quadrature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.eval.tasks import unpack_correct
from mmcl.experiments.xue2024.claims import (
    claim,
    exact_sums,
    greater,
    rises,
    slope_weights,
)

ID_SPLITS = ("id", "val")  # a world's in-distribution split; a file dataset's data.val_path
BASELINE = "supervised"
Run = tuple[str, str]  # (learner, preset)


def shift_records(records: Sequence[dict]) -> dict[Run, dict[int, dict[str, dict]]]:
    """{(learner, preset): {seed: {shift split: its accuracy record}}} of the image sweep."""
    table: dict[Run, dict[int, dict[str, dict]]] = {}
    for r in records:
        shifted = r["split"] not in ID_SPLITS
        if r.get("experiment") == "images" and shifted and r["metric"] == "accuracy":
            by_seed = table.setdefault((r["learner"], r["preset"]), {})
            by_seed.setdefault(r["seed"], {})[r["split"]] = r
    return table


def shift_combination(
    table: dict[Run, dict[int, dict[str, dict]]],
    terms: Sequence[tuple[Run, float]],
    seeds: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, sum_k w_k (mean shift accuracy of run k) and its paired test-sample error.

    The runs of one seed are scored on the same images of each split, so the error of split j
    is std over its samples of sum_k w_k correct_kj / sqrt(n_j); the splits hold different
    images, so the mean over J splits has error sqrt(sum_j se_j^2) / J.
    """
    values, errors = [], []
    for seed in seeds:
        splits = sorted(table[terms[0][0]][seed])
        value, var = 0.0, 0.0
        for split in splits:
            rows = [(table[run][seed][split], w) for run, w in terms]
            value += sum(w * r["value"] for r, w in rows) / len(splits)
            per_sample = sum(w * unpack_correct(r).astype(float) for r, w in rows)  # (n_j,)
            var += float(np.var(per_sample, ddof=1)) / per_sample.size
        values.append(value)
        errors.append(np.sqrt(var) / len(splits))
    return exact_sums(values), np.array(errors)


def clip_presets(records: Sequence[dict]) -> list[str]:
    """The caption-richness settings CLIP was trained with, poorest first (run order)."""
    return list(dict.fromkeys(r["preset"] for r in records if r.get("learner") == "clip"))


def image_claims(records: Sequence[dict], *, test: str) -> list[dict]:
    """IMG-C1 (CLIP, richest captions, minus supervised, on mean shift accuracy) and IMG-C4
    (slope of CLIP's mean shift accuracy over caption-richness rank), as raw rows; `test` is the
    sweep's test design (module docstring)."""
    table, presets = shift_records(records), clip_presets(records)
    if not presets:
        raise MMCLError("image_claims: records lack CLIP runs; run run_images()")
    dataset = next(r.get("dataset", "images") for r in records if r.get("learner") == "clip")
    seeds = sorted(set.intersection(*(set(v) for v in table.values())))
    rows = []
    richest = presets[-1]
    if (BASELINE, "labels") in table:
        terms = [(("clip", richest), 1.0), ((BASELINE, "labels"), -1.0)]
        est = stats.estimate(*shift_combination(table, terms, seeds), test=test)
        c = claim(
            "IMG-C1",
            f"images ({dataset}): CLIP zero-shot ({richest} captions) beats the supervised head "
            "on mean accuracy under shift",
            "shift acc, CLIP - supervised",
            greater("IMG-C1"),
        )
        clip_acc = shift_combination(table, [(("clip", richest), 1.0)], seeds)[0]
        sl_acc = shift_combination(table, [((BASELINE, "labels"), 1.0)], seeds)[0]
        detail = f"CLIP {clip_acc.mean():.3f}, supervised {sl_acc.mean():.3f}"
        rows.append(c.decide(est, 3, detail))
    w = slope_weights(range(len(presets)))
    terms = [(("clip", p), float(wi)) for p, wi in zip(presets, w, strict=True)]
    est = stats.estimate(*shift_combination(table, terms, seeds), test=test)
    c = claim(
        "IMG-C4",
        f"images ({dataset}): richer captions ({' < '.join(presets)}) raise CLIP's mean accuracy "
        "under shift",
        "slope of shift acc over richness rank, per step",
        rises("IMG-C4", "richness rank"),
    )
    means = {p: shift_combination(table, [(("clip", p), 1.0)], seeds)[0].mean() for p in presets}
    rows.append(c.decide(est, 3, ", ".join(f"{p}: {m:.3f}" for p, m in means.items())))
    return rows
