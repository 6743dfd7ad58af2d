"""xue2024's image claims (shapes or real captions): CLIP against a supervised head under shift,
caption richness, and the type of detail a caption names, decided over seeds (rules and margins
fixed before the run, `claims`).

The decided figure. On the `shapes` world it is accuracy on `spurious_reversed` (`SEPARATING`),
the one split where the background names another class: a model that reads only the background
scores near 0 there and one that reads the shape scores high, while `unseen_colors` keeps the
training background and `sketch` draws none, so a mean over them would blur the two readers
together. The other shift splits are reported beside it (each row's `ours` text), never averaged
in. On files the splits are the user's (`data.val_shifts`): the figure is their mean.

Precondition (issue 27), chosen before any comparison and reading none of the compared arms: on a
world, every image claim is about whether captions steer the model to the shape, so each asks
that the supervised arm learns the shape in this very regime,
`calibrated.supervised_learns("shape", ...)` on the supervised runs' linear shape probe on
`balanced` (the `attributes` task every world run scores). On files there is no `balanced` split:
the rows keep "none stated".

Claims:
- IMG-C1: CLIP with the richest captions minus the supervised head.
- IMG-C4: slope of CLIP's accuracy over the richness chain label -> background -> rich, each
  caption set containing the one before. `details` (colour and texture, no background) is not in
  the chain: it does not contain `background`, so it has no rank between it and `rich`, and
  ranking it by its count of details would mix C4's "more details" with C5's "which details".
- IMG-C5 (type of detail): `details` minus `background`, captions that name details other than the
  shortcut against captions that name the shortcut. The spec says some kinds of detail help more
  than others and leaves which ones unknown, so the rule is two-sided (`claims.Differs`); the row
  says which way it came out.

Test design, stated by the caller (`images.image_test_design`): on the shapes world each seed
renders its own test splits (`data.shapes.seed` is the run's seed), so the estimates are
`stats.PER_SEED`; on files every seed is scored on the same files, `stats.SHARED`. Either way
every model of one seed is scored on the same images, so a figure that combines models (a
difference, a slope over presets) takes the paired per-sample error of that combination, read
from the accuracy records' per-sample `correct` field, not binomial errors in quadrature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.eval.tasks import unpack_correct
from mmcl.experiments import calibrated
from mmcl.experiments.xue2024.claims import (
    claim,
    differs,
    exact_sums,
    greater,
    rises,
    slope_weights,
)

ID_SPLITS = ("id", "val")  # a world's in-distribution split; a file dataset's data.val_path
SEPARATING = "spurious_reversed"  # the world's split that tells shape readers from background ones
BASELINE = "supervised"
SHORTCUT, DETAILS = "background", "details"  # C5's presets: the shortcut named, or other details
# The precondition's feature (the world's class, tagged on the records; the shape when untagged)
# and where it is probed.
PROBED, PROBE_SPLIT = "shape", "balanced"
Run = tuple[str, str]  # (learner, preset)
Table = dict[Run, dict[int, dict[str, dict]]]


def shift_records(records: Sequence[dict]) -> Table:
    """{(learner, preset): {seed: {shift split: its accuracy record}}} of the image sweep (the
    models' own predictions: zero-shot or the supervised head, not the attribute probes)."""
    table: Table = {}
    for r in records:
        shifted = r["split"] not in ID_SPLITS and r.get("task") != "attributes"
        if r.get("experiment") == "images" and shifted and r["metric"] == "accuracy":
            by_seed = table.setdefault((r["learner"], r["preset"]), {})
            by_seed.setdefault(r["seed"], {})[r["split"]] = r
    return table


def all_splits(table: Table) -> list[str]:
    """Every shift split the sweep scored, in name order."""
    return sorted({s for by_seed in table.values() for splits in by_seed.values() for s in splits})


def scored_splits(table: Table) -> list[str]:
    """The splits a claim's figure is the mean of: `SEPARATING` alone where the sweep has it (a
    world), else every shift split (files: the user's)."""
    splits = all_splits(table)
    return [SEPARATING] if SEPARATING in splits else splits


def shift_combination(
    table: Table,
    terms: Sequence[tuple[Run, float]],
    seeds: Sequence[int],
    splits: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, sum_k w_k (mean accuracy of run k over `splits`) and its paired test-sample error.

    The runs of one seed are scored on the same images of each split, so the error of split j
    is std over its samples of sum_k w_k correct_kj / sqrt(n_j); the splits hold different
    images, so the mean over J splits has error sqrt(sum_j se_j^2) / J.
    """
    values, errors = [], []
    for seed in seeds:
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
    """The caption settings CLIP was trained with, in run order."""
    return list(dict.fromkeys(r["preset"] for r in records if r.get("learner") == "clip"))


def richness_presets(records: Sequence[dict]) -> list[str]:
    """CLIP's caption-richness chain, poorest first: every preset but `DETAILS` (module doc)."""
    return [p for p in clip_presets(records) if p != DETAILS]


def shape_precondition(records: Sequence[dict], *, test: str) -> dict[str, str]:
    """The image claims' precondition field: the supervised runs' shape probe on `balanced`
    (`calibrated.supervised_learns`, chance read from the probe's own records); "none stated"
    where the sweep has no such probe (files: no `balanced` split)."""
    probed = next((r["noun"] for r in records if r.get("noun")), PROBED)  # the world's class
    wanted = ("images", "attributes", BASELINE, probed, PROBE_SPLIT)
    probes: dict[str, dict[int, dict]] = {}
    for r in records:
        keys = ("experiment", "task", "learner", "attribute", "split")
        if tuple(r.get(k) for k in keys) == wanted:
            probes.setdefault(r["metric"], {})[r["seed"]] = r
    if "accuracy" not in probes:
        return stats.precondition_not_stated()
    seeds = sorted(probes["accuracy"])
    acc = np.array([probes["accuracy"][s]["value"] for s in seeds])
    n = np.array([probes["accuracy"][s]["n_samples"] for s in seeds])
    chance = float(np.mean([probes["uniform_chance"][s]["value"] for s in seeds]))
    return calibrated.supervised_learns(
        probed, acc.tolist(), np.sqrt(acc * (1 - acc) / n).tolist(), chance=chance, test=test
    )


def _arm_text(table: Table, name: str, run: Run, seeds: Sequence[int]) -> str:
    """ "CLIP (rich) spurious_reversed 0.412 (sketch 0.101, unseen_colors 0.953)": the scored
    figure first, every other shift split beside it, seed means."""
    scored = scored_splits(table)
    means = {s: shift_combination(table, [(run, 1.0)], seeds, [s])[0].mean()
             for s in all_splits(table)}  # fmt: skip
    head = " + ".join(scored) if len(scored) > 1 else scored[0]
    value = float(np.mean([means[s] for s in scored]))
    others = ", ".join(f"{s} {m:.3f}" for s, m in means.items() if s not in scored)
    return f"{name} {head} {value:.3f}" + (f" ({others})" if others else "")


def image_claims(records: Sequence[dict], *, test: str) -> list[dict]:
    """IMG-C1, IMG-C4 and (with both its presets) IMG-C5 as raw rows, each with the shape
    precondition; `test` is the sweep's test design (module docstring)."""
    table, presets = shift_records(records), richness_presets(records)
    if not presets:
        raise MMCLError("image_claims: records lack CLIP runs; run run_images()")
    dataset = next(r.get("dataset", "images") for r in records if r.get("learner") == "clip")
    seeds = sorted(set.intersection(*(set(v) for v in table.values())))
    splits = scored_splits(table)
    figure = " + ".join(splits) if len(splits) > 1 else splits[0]
    pre = shape_precondition(records, test=test)

    def decide(c: stats.Claim, terms: list[tuple[Run, float]], arms: dict[str, Run]) -> dict:
        est = stats.estimate(*shift_combination(table, terms, seeds, splits), test=test)
        detail = "; ".join(_arm_text(table, name, run, seeds) for name, run in arms.items())
        return c.decide(est, 3, detail, precondition=pre)

    rows = []
    richest = ("clip", presets[-1])
    if (BASELINE, "labels") in table:
        c = claim(
            "IMG-C1",
            f"images ({dataset}): CLIP zero-shot ({presets[-1]} captions) beats the supervised "
            f"head on {figure} accuracy",
            f"{figure} acc, CLIP - supervised",
            greater("IMG-C1"),
        )
        baseline = (BASELINE, "labels")
        arms = {f"CLIP ({presets[-1]})": richest, "supervised": baseline}
        rows.append(decide(c, [(richest, 1.0), (baseline, -1.0)], arms))
    w = slope_weights(range(len(presets)))
    c = claim(
        "IMG-C4",
        f"images ({dataset}): richer captions ({' < '.join(presets)}) raise CLIP's {figure} "
        "accuracy",
        f"slope of {figure} acc over richness rank, per step",
        rises("IMG-C4", "richness rank"),
    )
    terms = [(("clip", p), float(wi)) for p, wi in zip(presets, w, strict=True)]
    rows.append(decide(c, terms, {p: ("clip", p) for p in presets}))
    if {("clip", DETAILS), ("clip", SHORTCUT)} <= set(table):
        c = claim(
            "IMG-C5",
            f"images ({dataset}): the type of detail matters: CLIP with captions naming other "
            f"details (colour, texture) and with captions naming the shortcut (background) "
            f"differ on {figure} accuracy",
            f"{figure} acc, CLIP ({DETAILS}) - CLIP ({SHORTCUT})",
            differs("IMG-C5"),
        )
        arms = {DETAILS: ("clip", DETAILS), SHORTCUT: ("clip", SHORTCUT)}
        rows.append(decide(c, [(("clip", DETAILS), 1.0), (("clip", SHORTCUT), -1.0)], arms))
    return rows
