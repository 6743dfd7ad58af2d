"""xue2024's vector claims as `mmcl.stats.Claim`s, each rule fixed here before any run, and the
pure functions that turn raw per-seed results into claim rows (`image_claims` has the images').

The spec (xue2024.md in the shared specs) is a reconstruction: the paper's body and figures were
not read, so every row compares *our* figure with the paper's *stated direction*, and the
`paper` column says that the paper's own figure is unknown.

Rules (chosen from the spec and issues 13 and 25, before looking at any outcome):
- Direction claims ("A > B", "rises") use `Greater` / `Rises` with a minimum effect per claim
  kind, in the claim's own units, read with its one-line reason from configs/xue2024/claims.yaml
  (`MARGINS`): one point of OOD accuracy for accuracy differences, one point per unit of the
  swept variable for slopes (C4: per unit of q), 0 for the alignment slope (the paper states only
  a direction there). No margin reads a measured number.
- Each learner's C3/C4 rows are read against *its own* prediction (spec 2c). Squared negatives
  predicts the paper's direction (C4 rises, C3 all > class0 > none); InfoNCE is not covered by
  the theory and is read against the paper's direction; squared negatives at a truncated rank
  (the old code's rank 4-5) appear only as labelled ablations (ids ending "-ablation").
- Linear negatives has no C3/C4 claims. At rank >= the latent dimension its zero-shot direction
  S_c^T t_k / rho cannot see annotation, so its OOD accuracy over q and over detail annotation is
  the same to the sample (0 of 5000 predictions change at tiny): an identity, not a finding. Its
  old equivalence rows were decided on a zero-width interval; they are now the checks
  `linear-full-rank-flat` (r = d, exact) and `linear-headline-flat` (the headline rank, within
  the negligible-effect line) in `checks`.
- C8 ("every loss beats SL") is an intersection-union test over the losses of `C8_MODELS`, each
  loss's own gap estimate against the C8 margin: held only if every loss's gap is held at level
  alpha, so its p-value is the largest of theirs (the intersection-union test needs no multiplicity
  adjustment); not held if some loss's gap is confidently below the margin, with Bonferroni over
  the losses (p = k * the smallest). The old figure, the per-seed minimum over losses tested
  against one loss's error, was a selection statistic: its mean sits below every loss's mean and
  drifts to "not held" as seeds grow when the losses tie.
- Test design: each seed draws its own test set (`mmcl.data.synthetic.generate` seeds every
  split with the config's seed), so every estimate here is `stats.PER_SEED`: the interval is t on
  the per-seed figures, which already hold test-sample noise. Within a seed all configs share
  their test draws (see `vector`), so each per-seed figure, a weighted sum of accuracies, also
  records the paired standard error of the same weighted sum of per-sample correctness
  (`se_test`, for reading; it does not widen the interval).
- Equal per-seed figures are an exact figure and decide nothing (`stats.estimate` gives them a
  spread of exactly 0), and `exact_sums` drops the float slack of weighted sums of accuracies
  (a flat series' slope is 0, not +-1e-17 read as a confident "below the margin").
- Every row goes, with the image rows, through `mmcl.verdicts.decide_families` in the runner:
  the paper's claims are one family (Holm at 5%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.experiments import grids
from mmcl.experiments.grids import Margin, grid_path

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

UNKNOWN = "the paper's figure is unknown (spec is a reconstruction)"
# Claim id prefix -> the direction the paper states (spec section 3).
DIRECTIONS = {
    "C1": "MMCL OOD acc > SL OOD acc (C1)",
    "C2-alignment": "learned features favour the high-variance core (C2)",
    "C2-gap": "MMCL advantage needs intra-class variance (C2)",
    "C2-prototype": "intra-class contrasting helps OOD (C2)",
    "A4.2": "advantage when sigma_spurious is small (Assumption 4.2)",
    "C3": "shared annotated details raise OOD acc: all > class0 > none (C3, spec item 5)",
    "C4": "richer captions raise OOD acc (C4)",
    "C8": "MMCL OOD acc > SL OOD acc for every loss (spec item 8)",
    "IMG-C1": "CLIP > supervised under shift (C6)",
    "IMG-C4": "richer captions raise OOD acc (C6)",
    "IMG-C5": "the type of annotated detail matters; which kind helps more is not stated (C5)",
}
HEADLINE_MODELS = ("linear", "squared", "infonce")
C8_MODELS = ("linear", "squared", "infonce", "infonce/T0.1", "infonce/T1")
# C3/C4 at rank >= latent dimension: no effect by construction (spec 2c), a check not a claim.
PREDICTS_NO_EFFECT = {"linear"}


def read_margins(path: Path | Traversable) -> dict[str, Margin]:
    """{claim kind: Margin} from a claims file (`margins` section): exactly the kinds of
    `DIRECTIONS`, each a magnitude >= 0; a mistake is an MMCLError naming the file and key."""
    return grids.read_margins(path, tuple(DIRECTIONS), "claim kind", magnitudes=True)


MARGINS = read_margins(grid_path("xue2024", "claims.yaml"))


def kind_of(claim_id: str) -> str:
    """ "C3-order-a/squared/r5-ablation" -> "C3": the claim kind its margin and direction are."""
    return claim_id.split("/")[0].split("-order")[0]


def greater(claim_id: str) -> stats.Greater:
    """`Greater` with the claim kind's margin and reason from `MARGINS`."""
    m = MARGINS[kind_of(claim_id)]
    return stats.Greater(m.value, reason=m.reason)


def rises(claim_id: str, x_name: str) -> stats.Rises:
    """`Rises` over `x_name` with the claim kind's margin (per unit of x) and reason."""
    m = MARGINS[kind_of(claim_id)]
    return stats.Rises(m.value, x_name, reason=m.reason)


@dataclass(frozen=True)
class Differs:
    """ "A and B differ, either way": the estimate is of A - B, the mirror of `stats.Equivalent`.

    For a claim that names no direction (Xue's C5: some kinds of detail help more than others,
    which ones the spec leaves unknown). Held if the 95% interval lies wholly above `min_effect`
    or wholly below -`min_effect`; not held if it lies inside +/-`min_effect` (two one-sided
    tests); else inconclusive. The p-values are `Equivalent`'s with the verdicts swapped.
    """

    min_effect: float
    reason: str = ""

    @property
    def margin(self) -> float:
        return self.min_effect

    def text(self) -> str:
        m = f"{self.min_effect:g}"
        return (
            f"held if the 95% interval of the difference lies wholly above {m} or wholly below "
            f"-{m}; not held if it lies inside +/-{m}; else inconclusive"
        )

    def fails_if(self) -> str:
        return f"the interval lies inside +/-{self.min_effect:g}"

    def distance(self, est: stats.Estimate) -> float:
        return abs(abs(est.mean) - self.min_effect)

    def test(self, est: stats.Estimate) -> stats.Leaning:
        leaning, p = stats.Equivalent(self.min_effect).test(est)
        swapped = {stats.HELD: stats.NOT_HELD, stats.NOT_HELD: stats.HELD}
        return swapped.get(leaning), p

    def decide(self, est: stats.Estimate, alpha: float = stats.ALPHA) -> str:
        direction, p = self.test(est)
        return direction if direction is not None and p < alpha else stats.INCONCLUSIVE


def differs(claim_id: str) -> Differs:
    """`Differs` with the claim kind's margin (> 0: a two-sided claim needs a band) and reason."""
    m = MARGINS[kind_of(claim_id)]
    return Differs(m.value, reason=m.reason)


def is_ablation(model: str) -> bool:
    """Models at a truncated rank (the old code's rank 4-5), labelled "<loss>/r<k>-ablation"."""
    return model.endswith("-ablation")


def paper_column(claim_id: str) -> str:
    """The paper's stated direction for a claim id, and that its figure is unknown."""
    return f"{DIRECTIONS.get(kind_of(claim_id), 'not stated')}; {UNKNOWN}"


def claim(cid: str, statement: str, figure: str, rule: stats.Rule | Differs) -> stats.Claim:
    return stats.Claim(cid, statement, paper_column(cid), figure, rule)


# ---- raw results -> per-seed figures -------------------------------------------------------


def _lookup(records: Sequence[dict], experiment: str) -> dict:
    """{(model, value, seed): record} of one sweep."""
    return {
        (r["model"], r["value"], r["seed"]): r for r in records if r["experiment"] == experiment
    }


def seeds_of(records: Sequence[dict]) -> list[int]:
    return sorted({r["seed"] for r in records})


def combination(
    results: dict[str, list[dict]], experiment: str, terms: Sequence[tuple[str, object, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed sum_k w_k acc(model_k, value_k) and its paired test-sample standard error.

    `terms` are (model, sweep value, weight). The error is std over test samples of
    sum_k w_k correct_k, / sqrt(n_test): exact for test sets shared by index (module docstring).
    """
    table = _lookup(results[experiment], experiment)
    values, errors = [], []
    for seed in seeds_of(results[experiment]):
        rows = [(table[(m, v, seed)], w) for m, v, w in terms]
        values.append(sum(w * r["ood_acc"] for r, w in rows))
        per_sample = sum(w * np.asarray(r["ood_correct"], float) for r, w in rows)
        errors.append(float(np.std(per_sample, ddof=1) / np.sqrt(len(per_sample))))
    return exact_sums(values), np.array(errors)


def exact_sums(values: Sequence[float]) -> np.ndarray:
    """Per-seed weighted sums of accuracies, float slack removed: accuracies are multiples of
    1/n_test, so a sum that is 0 in exact arithmetic (e.g. the slope of a flat series) must be 0,
    not +-1e-17 with a spread that a rule would read as a confident "below the margin"."""
    return np.round(np.asarray(values, float), DIGITS)


DIGITS = 12  # far below 1/n_test at any scale, far above float64 slack on sums of a few terms


def slope_weights(x: Sequence[float]) -> np.ndarray:
    """w with sum_i w_i y_i = least-squares slope of y on x."""
    centred = np.asarray(x, float) - np.mean(x)
    return centred / float(np.sum(centred**2))


def per_seed_values(results: dict, experiment: str, model: str, key: str) -> dict:
    """{sweep value: per-seed array of records[key]} for one model, in sweep order."""
    table: dict = {}
    for r in results[experiment]:
        if r["model"] == model:
            table.setdefault(r["value"], {})[r["seed"]] = r[key]
    return {v: np.array([by_seed[s] for s in sorted(by_seed)]) for v, by_seed in table.items()}


def vector_estimate(values: Sequence[float], test_se=None) -> stats.Estimate:
    """Per-seed figures -> estimate. PER_SEED: `generate` seeds every test split with the
    config's seed, so each seed scores its own test set (module docstring); `test_se` is kept
    for reading only."""
    return stats.estimate(values, test_se, test=stats.PER_SEED)


def decide(c: stats.Claim, values: Sequence[float], test_se=None, detail: str = "") -> dict:
    """The pure decision: per-seed figures (and test-sample errors) -> the claim's raw row."""
    return c.decide(vector_estimate(values, test_se), digits=3, detail=detail)


def _series(table: dict) -> str:
    return ", ".join(f"{k}: {float(np.mean(v)):.3f}" for k, v in table.items())


# ---- vector claims ---------------------------------------------------------------------------


def c1_gap(results: dict, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed OOD acc of `model` minus SL's at p_train 0.95, and its paired test error."""
    return combination(results, "c1", [(model, 0.95, 1.0), ("sl", 0.95, -1.0)])


def c1_row(results: dict, model: str) -> dict:
    cid = f"C1/{model}"
    c = claim(
        cid,
        "MMCL zero-shot OOD accuracy > SL OOD accuracy under a flipped spurious feature "
        "(p_train 0.95, p_test 0.05)",
        f"OOD acc, {model} - SL",
        greater(cid),
    )
    return decide(c, *c1_gap(results, model))


def c2_rows(results: dict, model: str) -> list[dict]:
    sigmas = list(per_seed_values(results, "sigma_core", model, "ood_acc"))
    w = slope_weights(sigmas)
    align = per_seed_values(results, "sigma_core", model, "zs_core_alignment")
    align_slope = np.array(list(align.values())).T @ w  # (seeds,)
    cid = f"C2-alignment/{model}"
    rows = [
        decide(
            claim(
                cid,
                "|cos(zero-shot image direction G^T (t_1 - t_0), D_I e_core)| rises with the "
                "core's within-class std sigma_c",
                "slope of |cos| over sigma_c",
                rises(cid, "sigma_c"),
            ),
            align_slope,
            None,  # a property of the trained model, no test set; the seed spread holds it
            f"per sigma_c: {_series(align)}",
        )
    ]
    gap_terms = [(model, s, wi) for s, wi in zip(sigmas, w, strict=True)]
    gap_terms += [("sl", s, -wi) for s, wi in zip(sigmas, w, strict=True)]
    cid = f"C2-gap/{model}"
    c = claim(
        cid,
        "the MMCL - SL OOD gap grows with sigma_c",
        "slope of (OOD acc MMCL - SL) over sigma_c, per unit of sigma_c",
        rises(cid, "sigma_c"),
    )
    rows.append(decide(c, *combination(results, "sigma_core", gap_terms)))
    cid = f"C2-prototype/{model}"
    c = claim(
        cid,
        "per-sample captions beat class-prototype captions OOD (intra-class contrasting)",
        "OOD acc, per-sample - prototype captions",
        greater(cid),
    )
    rows.append(
        decide(c, *combination(results, "prototype", [(model, True, 1), (model, False, -1)]))
    )
    terms = [(model, 0.05, 1), ("sl", 0.05, -1), (model, 1.0, -1), ("sl", 1.0, 1)]
    cid = f"A4.2/{model}"
    c = claim(
        cid,
        "the MMCL - SL OOD gap is larger at sigma_s = 0.05 than at sigma_s = 1",
        "gap(sigma_s 0.05) - gap(sigma_s 1)",
        greater(cid),
    )
    rows.append(decide(c, *combination(results, "sigma_spurious", terms)))
    return rows


def c3_rows(results: dict, model: str) -> list[dict]:
    """C3: all - none, all - class0, class0 - none, each against the paper's direction."""
    pairs = (
        ("C3", "all", "none"),
        ("C3-order-a", "all", "class0"),
        ("C3-order-b", "class0", "none"),
    )
    ood = per_seed_values(results, "sharing", model, "ood_acc")
    rows = []
    for kind, a, b in pairs:
        cid = f"{kind}/{model}"
        c = claim(cid, _sharing_statement(model, a, b), f"OOD acc, {a} - {b}", greater(cid))
        values, se = combination(results, "sharing", [(model, a, 1), (model, b, -1)])
        rows.append(decide(c, values, se, f"OOD per annotation: {_series(ood)}"))
    return rows


def _sharing_statement(model: str, a: str, b: str) -> str:
    what = f"annotating shared details in {a} captions vs {b}: {a} > {b} (paper's direction)"
    if is_ablation(model):
        ablation = "ablation; spec 2c: an effect here is a truncation artefact"
        return f"{what} at a truncated rank ({ablation})"
    return what


def c4_row(results: dict, model: str) -> dict:
    ood = per_seed_values(results, "richness", model, "ood_acc")
    qs = list(ood)
    terms = [(model, q, wi) for q, wi in zip(qs, slope_weights(qs), strict=True)]
    statement = "richer captions (q) raise OOD accuracy"
    if is_ablation(model):
        statement += ", at a truncated rank (ablation; spec 2c)"
    cid = f"C4/{model}"
    c = claim(cid, statement, "slope of OOD acc over q, per unit of q", rises(cid, "q"))
    values, se = combination(results, "richness", terms)
    return decide(c, values, se, f"OOD per q: {_series(ood)}")


def c8_row(results: dict, models: Sequence[str] = C8_MODELS) -> dict:
    """Every loss beats SL OOD: an intersection-union test over the losses (module docstring).

    Each loss's gap is estimated and tested alone against the C8 margin. Held: every loss leans
    held, p = the largest p. Not held: some loss leans not held, p = k * the smallest such p
    (Bonferroni over the k losses). The row's interval and `seeds_needed` are the deciding
    loss's: the weakest one for held, the most confidently failing one for not held.
    """
    rule = greater("C8")
    gaps = {m: vector_estimate(*c1_gap(results, m)) for m in models}
    tests = {m: rule.test(est) for m, est in gaps.items()}
    held_p = {m: p if lean == stats.HELD else 1.0 for m, (lean, p) in tests.items()}
    fail_p = {m: p if lean == stats.NOT_HELD else 1.0 for m, (lean, p) in tests.items()}
    if all(lean == stats.HELD for lean, _ in tests.values()):
        deciding = max(held_p, key=held_p.__getitem__)
        leans, p = stats.HELD, held_p[deciding]
    elif any(lean == stats.NOT_HELD for lean, _ in tests.values()):
        deciding = min(fail_p, key=fail_p.__getitem__)
        leans, p = stats.NOT_HELD, min(1.0, len(models) * fail_p[deciding])
    else:  # no loss decidable (one seed, exact figures): nothing to say
        deciding = max(held_p, key=held_p.__getitem__)
        leans, p = None, 1.0
    c = claim(
        "C8",
        f"MMCL OOD accuracy > SL OOD accuracy for every loss ({', '.join(models)})",
        f"OOD acc MMCL - SL of the deciding loss ({deciding})",
        rule,
    )
    detail = "every loss: " + ", ".join(f"{m} {est.text(3)}" for m, est in gaps.items())
    row = c.decide(gaps[deciding], digits=3, detail=detail)
    raw = leans if leans is not None and p < stats.ALPHA else stats.INCONCLUSIVE
    row |= {"leans": leans, "p_value": p, "verdict": raw, "raw_verdict": raw}
    row["rule"] = (
        f"intersection-union over {len(models)} losses: held if every loss's 95% interval of "
        f"OOD acc MMCL - SL lies above {rule.min_effect:g} (p = the largest); not held if one "
        f"lies below it at level 0.05/{len(models)} (Bonferroni); else inconclusive"
    )
    row["fails_if"] = (
        f"some loss's OOD acc MMCL - SL lies below {rule.min_effect:g} at level 0.05/{len(models)}"
    )
    return row


def vector_claims(results: dict[str, list[dict]]) -> list[dict]:
    """Every vector claim's raw row from the sweeps' records (`vector.run_vector`'s first
    output); the runner decides them as a family with the image rows."""
    missing = [n for n in ("c1", "sigma_core", "prototype", "sigma_spurious", "sharing", "richness")
               if n not in results]  # fmt: skip
    if missing:
        raise MMCLError(f"vector_claims: results lack sweeps {missing}; run run_vector()")
    present = {r["model"] for r in results["c1"]}
    rows = []
    for model in (m for m in HEADLINE_MODELS if m in present):
        rows += [c1_row(results, model), *c2_rows(results, model)]
        if model not in PREDICTS_NO_EFFECT:  # its C3/C4 are checks (module docstring)
            rows += [*c3_rows(results, model), c4_row(results, model)]
    sharing_models = {r["model"] for r in results["sharing"]}
    richness_models = {r["model"] for r in results["richness"]}
    if "squared/r5-ablation" in sharing_models:
        rows += c3_rows(results, "squared/r5-ablation")[:1]
    if "squared/r4-ablation" in richness_models:
        rows.append(c4_row(results, "squared/r4-ablation"))
    if all(m in present for m in C8_MODELS):
        rows.append(c8_row(results))
    return rows


def loss_reading(rows: Sequence[dict], checks: Sequence[dict]) -> str:
    """Which linearized loss the paper's C3/C4 direction needs, from the family verdicts and
    the linear model's flatness check."""
    verdict = {r["id"]: r["verdict"] for r in rows}
    passed = {c["id"]: c["passed"] for c in checks}
    parts = []
    for cid in ("C4", "C3"):
        said = [f"{m}: {verdict[f'{cid}/{m}']}" for m in HEADLINE_MODELS if f"{cid}/{m}" in verdict]
        if said:
            parts.append(f"{cid} ({', '.join(said)})")
    flat = passed.get("linear-headline-flat")
    linear = "not run" if flat is None else ("passed" if flat else "FAILED")
    return (
        "Linear negatives predicts no C3/C4 effect (its zero-shot direction cannot see "
        f"annotation): a check, linear-headline-flat, {linear}. Squared negatives predicts the "
        "paper's direction; InfoNCE is read against the paper's direction. The paper's "
        "direction therefore needs a loss whose negatives enter non-linearly (squared or "
        "InfoNCE), not linear negatives. Family verdicts: " + "; ".join(parts) + "."
    )
