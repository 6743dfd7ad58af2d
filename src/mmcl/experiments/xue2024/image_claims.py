"""xue2024's image claims (shapes or real captions): CLIP against a supervised head under shift,
and caption richness, decided over seeds with binomial test-sample errors (rules fixed here).

"Under shift" is the mean accuracy over the non-in-distribution splits. On the `shapes` world
the runner first gates the budget (`mmcl.experiments.calibrated`): where a supervised model
cannot learn the shape, these claims are made inconclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.experiments.xue2024.claims import claim, decide, slope_weights

ID_SPLITS = ("id", "val")  # a world's in-distribution split; a file dataset's data.val_path
BASELINE = "supervised"


def shift_accuracy(records: Sequence[dict]) -> dict[tuple[str, str], dict[int, tuple]]:
    """{(learner, preset): {seed: (mean accuracy over the shift splits, its test-sample se)}}."""
    by_run: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
    for r in records:
        shifted = r["split"] not in ID_SPLITS
        if r.get("experiment") == "images" and shifted and r["metric"] == "accuracy":
            key = (r["learner"], r["preset"], r["seed"])
            by_run.setdefault(key, []).append((r["value"], r.get("n_samples", 0)))
    table: dict[tuple[str, str], dict[int, tuple]] = {}
    for (learner, preset, seed), values in by_run.items():
        accs = np.array([v for v, _ in values])
        ses = np.array([stats.accuracy_se(v, n) for v, n in values], float)
        table.setdefault((learner, preset), {})[seed] = (
            float(accs.mean()),
            float(np.sqrt(np.sum(ses**2)) / len(ses)),  # se of a mean of independent splits
        )
    return table


def clip_presets(records: Sequence[dict]) -> list[str]:
    """The caption-richness settings CLIP was trained with, poorest first (run order)."""
    return list(dict.fromkeys(r["preset"] for r in records if r.get("learner") == "clip"))


def image_claims(records: Sequence[dict]) -> list[dict]:
    """IMG-C1 (CLIP, richest captions, minus supervised, on mean shift accuracy: Greater(0)) and
    IMG-C4 (slope of CLIP's mean shift accuracy over caption-richness rank: Rises(0)).

    Test-sample errors are binomial on each split's size, added in quadrature between the two
    models of IMG-C1 (scored on the same images, so this over-counts: towards inconclusive).
    """
    table, presets = shift_accuracy(records), clip_presets(records)
    if not presets:
        raise MMCLError("image_claims: records lack CLIP runs; run run_images()")
    dataset = next(r.get("dataset", "images") for r in records if r.get("learner") == "clip")
    seeds = sorted(set.intersection(*(set(v) for v in table.values())))

    def acc(key):
        return np.array([table[key][s][0] for s in seeds]), np.array(
            [table[key][s][1] for s in seeds]
        )

    clip = {p: acc(("clip", p)) for p in presets}
    rows = []
    richest = presets[-1]
    if (BASELINE, "labels") in table:
        sl, sl_se = acc((BASELINE, "labels"))
        c = claim(
            "IMG-C1",
            f"images ({dataset}): CLIP zero-shot ({richest} captions) beats the supervised head "
            "on mean accuracy under shift",
            "shift acc, CLIP - supervised",
            stats.Greater(0.0),
        )
        est = stats.difference(clip[richest][0], sl, clip[richest][1], sl_se)
        detail = f"CLIP {clip[richest][0].mean():.3f}, supervised {sl.mean():.3f}"
        rows.append(c.decide(est, 3, detail))
    w = slope_weights(range(len(presets)))
    slopes = np.array([clip[p][0] for p in presets]).T @ w  # (seeds,)
    slope_se = np.sqrt(np.array([clip[p][1] for p in presets]).T ** 2 @ w**2)
    c = claim(
        "IMG-C4",
        f"images ({dataset}): richer captions ({' < '.join(presets)}) raise CLIP's mean accuracy "
        "under shift",
        "slope of shift acc over richness rank",
        stats.Rises(0.0, "richness rank"),
    )
    detail = ", ".join(f"{p}: {clip[p][0].mean():.3f}" for p in presets)
    rows.append(decide(c, slopes, slope_se, detail))
    return rows
