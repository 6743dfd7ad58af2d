"""Xue et al. 2024 on vector data: the spec's sweeps, every learner, one record per model.

RECON throughout (xue2024.md in the shared specs, sections 2b, 2c, 6): the data model
(`mmcl.data.synthetic`), the learners (`learners`) and the protocol are the spec's reconstruction,
built to test the *direction* of each claim, not the paper's figures.

Each sweep varies one field over a few values and fits every model of `HEADLINE` (plus its
ablations) and the SL baseline on the same training set. MMCL is scored zero-shot with the class
prompts, SL with its own classifier, on a fresh in-distribution split ("id") and the shifted split
("ood"). Within one seed every config draws its test latents from the same random stream, so the
i-th test pair of two configs shares its noise draws: differences between configs are paired by
test sample, and records keep the per-sample OOD correctness (`ood_correct`, in memory only) for
the claims' paired test-sample errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mmcl.data.synthetic import XueConfig, generate
from mmcl.experiments.xue2024.learners import (
    LearnerConfig,
    SLConfig,
    fit_linearized,
    learner,
    train_sl,
    zero_shot_direction,
    zero_shot_scores,
)
from mmcl.experiments.xue2024.scales import VectorScale
from mmcl.runs.executors import map_runs


@dataclass(frozen=True)
class Model:
    """One MMCL model of a sweep: a label (claim ids use it), a learner, a rank, train fields.

    rank: "headline" = the number of latent coordinates (core + spurious + nuisance), "full" =
    the ambient dimension d, or an int (a truncation ablation).
    """

    label: str
    learner: str
    rank: str | int = "headline"
    train: dict = field(default_factory=dict)

    def rank_for(self, cfg: XueConfig) -> int:
        if self.rank == "headline":
            return cfg.n_latent
        return cfg.d_image if self.rank == "full" else int(self.rank)


HEADLINE = (Model("linear", "linear"), Model("squared", "squared"), Model("infonce", "infonce"))
LOSS_VARIANTS = (  # spec item 8: InfoNCE at both ends of its temperature range
    Model("infonce/T0.1", "infonce", train={"temperature": 0.1}),
    Model("infonce/T1", "infonce", train={"temperature": 1.0}),
)
FULL_RANK_LINEAR = Model("linear/full-rank", "linear", "full")  # the flatness check


@dataclass(frozen=True)
class Sweep:
    """One XueConfig field (or "caption_richness": spurious and nuisance together) over values."""

    name: str
    param: str
    values: tuple
    base: dict = field(default_factory=dict)
    models: tuple[Model, ...] = HEADLINE


SHARING_BASE = {  # spec item 5: K = B = 5, association 0.9
    "task": "multiclass",
    "n_classes": 5,
    "n_details": 5,
    "association": 0.9,
    "annotate_nuisance": 0.0,  # the spec's C3 numbers are for captions without nuisance
}
SWEEPS = (
    Sweep("c1", "p_train", (0.95,), models=HEADLINE + LOSS_VARIANTS),  # items 1 and 8
    Sweep("sigma_core", "sigma_core", (0.0, 0.25, 0.5, 1.0, 2.0)),  # item 2
    Sweep("prototype", "intra_class_variation", (True, False)),  # item 3
    Sweep("sigma_spurious", "sigma_spurious", (0.05, 0.1, 0.3, 1.0)),  # item 4
    Sweep(  # item 5
        "sharing",
        "annotate_details",
        ("all", "class0", "none"),
        SHARING_BASE,
        HEADLINE + (Model("squared/r5-ablation", "squared-sgd", 5), FULL_RANK_LINEAR),
    ),
    Sweep(  # item 6
        "richness",
        "caption_richness",
        (0.0, 0.25, 0.5, 1.0),
        models=HEADLINE + (Model("squared/r4-ablation", "squared-sgd", 4), FULL_RANK_LINEAR),
    ),
    Sweep("p_train", "p_train", (0.5, 0.7, 0.9, 0.95)),  # the report's plot; no claim reads it
)
SWEEP_NAMES = tuple(s.name for s in SWEEPS)


def config_for(sweep: Sweep, value, seed: int, scale: VectorScale) -> XueConfig:
    fields = {"n": scale.n, "n_test": scale.n_test, "seed": seed, **sweep.base}
    if sweep.param == "caption_richness":
        fields |= {"annotate_spurious": value, "annotate_nuisance": value}
    else:
        fields[sweep.param] = value
    return XueConfig(**fields)


def run_sweep(sweep: Sweep, seed: int, scale: VectorScale) -> list[dict]:
    """Every value of one sweep for one seed: a record per model and one for SL."""
    records = []
    for value in sweep.values:
        cfg = config_for(sweep, value, seed, scale)
        tags = {"experiment": sweep.name, "seed": seed, "param": sweep.param, "value": value}
        records += [{**tags, **r} for r in evaluate_config(cfg, sweep.models, scale)]
    return records


def evaluate_config(cfg: XueConfig, models: Sequence[Model], scale: VectorScale) -> list[dict]:
    """Fit each model and SL on one config's training set; score on its id and ood splits."""
    train, splits = generate(cfg, "train"), {s: generate(cfg, s) for s in ("id", "ood")}
    records = []
    for model in models:
        train_cfg = LearnerConfig(steps=scale.steps, seed=cfg.seed, **model.train)
        rank = model.rank_for(cfg)
        enc = learner(model.learner)(train, train_cfg, rank)
        preds = {
            s: zero_shot_scores(enc, d.x_image, d.prompts).argmax(1) for s, d in splits.items()
        }
        record = {"model": model.label, "learner": model.learner, "rank": rank}
        record |= _scores(preds, splits) | {"log": enc.log}
        if cfg.task == "binary":
            record |= _alignment(zero_shot_direction(enc, train.prompts), train)
        records.append(record)
    w, b = train_sl(train, SLConfig(steps=scale.sl_steps), cfg.num_classes)
    preds = {s: (d.x_image @ w.T + b).argmax(1) for s, d in splits.items()}
    return [*records, {"model": "sl", "learner": "sl", "rank": None, **_scores(preds, splits)}]


def _zero_shot(enc, data) -> np.ndarray:
    return zero_shot_scores(enc, data.x_image, data.prompts).argmax(1)  # (n,)


def _scores(preds: dict, splits: dict) -> dict:
    correct = preds["ood"] == splits["ood"].labels  # (n_test,) bool
    return {
        "id_acc": float((preds["id"] == splits["id"].labels).mean()),
        "ood_acc": float(correct.mean()),
        "n_test": len(correct),
        "ood_correct": correct,
    }


def _alignment(direction: np.ndarray, data) -> dict:
    """C2: |cos| of the zero-shot image direction with D_I e_core and D_I e_spurious."""
    return {
        "zs_core_alignment": float(abs(direction @ data.core_image_dirs[0])),
        "zs_spurious_alignment": float(abs(direction @ data.spurious_image_dirs[0])),
    }


def sgd_checks(seed: int, scale: VectorScale) -> dict:
    """Full-batch Adam on both linearized losses (item 1's config) against their closed forms.

    Squared negatives at full rank (r = d) against `squared_negatives_minimizer`; linear
    negatives at the headline rank against SVD_r(S_c) / rho. Returns the relative Frobenius
    error of G, the OOD zero-shot accuracy of both, and the optimiser's log.
    """
    cfg = config_for(SWEEPS[0], 0.95, seed, scale)
    train, ood = generate(cfg, "train"), generate(cfg, "ood")
    out = {}
    for name, rank in (("squared", cfg.d_image), ("linear", cfg.n_latent)):
        negatives = "square" if name == "squared" else "linear"
        sgd = fit_linearized(train, negatives, rank, 1.0, scale.check_steps, 0.05, seed)
        closed = learner(name)(train, LearnerConfig(), rank)
        accs = [float((_zero_shot(e, ood) == ood.labels).mean()) for e in (sgd, closed)]
        error = np.linalg.norm(sgd.product - closed.product) / np.linalg.norm(closed.product)
        out[name] = {"relative_error": float(error), "ood_acc_sgd": accs[0]}
        out[name] |= {"ood_acc_closed_form": accs[1], "log": sgd.log}
    return out


def _task(kind: str, seed: int, scale: VectorScale):
    if kind == "checks":
        return sgd_checks(seed, scale)
    return run_sweep(next(s for s in SWEEPS if s.name == kind), seed, scale)


def run_vector(scale: VectorScale, seeds: Sequence[int]) -> tuple[dict[str, list[dict]], dict]:
    """Every sweep and the SGD checks for every seed, `scale.jobs` (seed, sweep) tasks at once.

    Returns ({sweep name: records, seeds in order}, {seed: sgd_checks output}).
    """
    kinds = (*SWEEP_NAMES, "checks")
    calls = [(kind, seed, scale) for seed in seeds for kind in kinds]
    outputs = map_runs(_task, calls, scale.jobs)
    results: dict[str, list[dict]] = {name: [] for name in SWEEP_NAMES}
    checks = {}
    for (kind, seed, _), output in zip(calls, outputs, strict=True):
        if kind == "checks":
            checks[seed] = output
        else:
            results[kind] += output
    return results, checks
