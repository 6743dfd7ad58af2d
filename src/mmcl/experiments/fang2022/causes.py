"""The runs behind the five candidate causes (spec sec. 2) and the point each claim reads.

A *role* names one scored model of the study, whatever the scale (e.g. "clip-narrow-small", CLIP
on a quarter of the narrow world); `role_points` maps each role to its run and evaluation for one
training seed. The claims (`claims`) compare roles, so they never see run names or sizes.
  (i)   size: CLIP on the narrow world at n_train and at `size_fraction` of it;
  (ii)  distribution: CLIP (and CE) on the narrow vs the diverse world, equal size and steps;
  (iii) language at training time: CLIP (captions) vs cross-entropy (labels), same narrow images;
  (iv)  language at test time: the diverse CLIP's zero-shot prompts vs a linear head fitted on
        its training world's labels, same features (plus one prompt, and a head fitted on ID);
  (v)   the loss: CLIP with class-name captions vs cross-entropy, same diverse data and labels.
"""

from __future__ import annotations

import dataclasses

from mmcl.experiments.fang2022.runs import CLASSIFIER, ZEROSHOT, EvalSpec, RunSpec
from mmcl.experiments.fang2022.scales import FangScale
from mmcl.experiments.fang2022.testbed import reference_ce, schedule, world_overrides

ONE_PROMPT = EvalSpec("zeroshot-1", "zeroshot", templates=("a photo of a {}.",))
PROBE_TRAIN = EvalSpec("probe-train", "linear_probe", probe_world="train")
PROBE_ID = EvalSpec("probe-id", "linear_probe", probe_world="eval")
ROLES = (
    "clip-narrow",
    "clip-narrow-small",
    "clip-diverse/zeroshot",
    "clip-diverse/zeroshot-1",
    "clip-diverse/probe-train",
    "clip-diverse/probe-id",
    "clip-label-diverse",
    "ce-narrow",
    "ce-diverse",
)


def clip_spec(
    name: str, world: str, n_train: int, scale: FangScale, evals=(ZEROSHOT,), captions: str = ""
) -> RunSpec:
    """CLIP on a world; `captions` a caption preset ("" = the scale's caption probabilities)."""
    text = (
        f"data.shapes.caption_preset={captions}"
        if captions
        else f"data.shapes.caption_probs={scale.caption_probs}"
    )
    return RunSpec(
        name=name,
        group=f"CLIP on {world}" + (f" ({captions} captions)" if captions else ""),
        overrides=(
            "method.name=clip",
            f"model.width={scale.width}",
            *schedule(scale.steps),
            *world_overrides(world, n_train),
            text,
        ),
        evals=tuple(evals),
    )


def seeded(spec: RunSpec, seed: int) -> RunSpec:
    """The run with training seed `seed` (seed 0 is the testbed's own, so it is shared); a
    cause point, never part of the line, so plotted apart from the testbed."""
    return dataclasses.replace(
        spec,
        name=f"{spec.name}-seed{seed}",
        group="CE on narrow" if spec.baseline else spec.group,
        overrides=(*spec.overrides, f"train.seed={seed}"),
        baseline=False,
    )


def small_size(scale: FangScale) -> int:
    return max(scale.batch_size, round(scale.size_fraction * scale.n_train))


def role_points(scale: FangScale, seed: int) -> dict[str, tuple[RunSpec, EvalSpec]]:
    """Every role's run (trained with `seed`) and the evaluation that gives its point."""
    n = scale.n_train
    narrow = clip_spec(f"clip-narrow-n{n}", "narrow", n, scale)
    small = clip_spec(f"clip-narrow-n{small_size(scale)}", "narrow", small_size(scale), scale)
    diverse = clip_spec(
        "clip-diverse", "diverse", n, scale, evals=(ZEROSHOT, ONE_PROMPT, PROBE_TRAIN, PROBE_ID)
    )
    label = clip_spec("clip-label-diverse", "diverse", n, scale, captions="label")
    ce_narrow, ce_diverse = reference_ce(scale), reference_ce(scale, "diverse")
    runs = {
        k: seeded(s, seed)
        for k, s in {"n": narrow, "s": small, "d": diverse, "l": label, "cn": ce_narrow,
                     "cd": ce_diverse}.items()
    }  # fmt: skip
    return {
        "clip-narrow": (runs["n"], ZEROSHOT),
        "clip-narrow-small": (runs["s"], ZEROSHOT),
        "clip-diverse/zeroshot": (runs["d"], ZEROSHOT),
        "clip-diverse/zeroshot-1": (runs["d"], ONE_PROMPT),
        "clip-diverse/probe-train": (runs["d"], PROBE_TRAIN),
        "clip-diverse/probe-id": (runs["d"], PROBE_ID),
        "clip-label-diverse": (runs["l"], ZEROSHOT),
        "ce-narrow": (runs["cn"], CLASSIFIER),
        "ce-diverse": (runs["cd"], CLASSIFIER),
    }


def cause_specs(scale: FangScale, seeds: tuple[int, ...]) -> list[RunSpec]:
    """The distinct runs of every role and seed."""
    specs = {spec.name: spec for seed in seeds for spec, _ in role_points(scale, seed).values()}
    return list(specs.values())


def role_labels(scale: FangScale, seeds: tuple[int, ...]) -> dict[str, list[str]]:
    """Role -> its point label for each seed, in seed order."""
    per_seed = [role_points(scale, seed) for seed in seeds]
    return {role: [spec.label(e) for spec, e in (p[role] for p in per_seed)] for role in ROLES}
