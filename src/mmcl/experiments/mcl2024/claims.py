"""mcl2024 claims and checks: pure functions from per-seed raw numbers to decided rows.

`raw` is a list with one dict per seed, as `measure.simclr_job` and `measure.clip_job` return
them merged (`runner.merge_seed`): `probes` {model: {attribute: accuracy}} and `correct` {model:
{attribute: per-sample correctness, packed by `mmcl.eval.tasks.pack_correct`}}, both on the same
`n_probe_test` samples (the second half of the seed's balanced split); `nmi` {clustering:
{attribute: NMI}}; `mmvp` {model: {attribute: [pair correct, ...]}}. Probe accuracies are
fractions; MMVP-style scores are fractions of pairs with both statements right (chance 0.25).
The paper's unimodal figures are not known (spec: [NR]), so `paper` gives the direction the spec
states.

How a claim is decided here (`mmcl.stats`, `mmcl.verdicts`):
- Test design: every seed draws its own world (world seed = training seed, `scales`), hence its
  own balanced split and its own MMVP-style pairs, so every estimate is `PER_SEED`: Student's t
  on the per-seed figures, whose spread already holds the test-sample noise. The per-seed test
  error is still recorded: for two probes it is paired over the samples both score
  (`paired_accuracy_se` on per-sample correctness), never two binomial errors in quadrature.
- Margins: fixed before any run, each with its reason, in configs/mcl2024/claims.yaml
  (`MARGINS`); a mistake there is an MMCLError naming the file and the key.
- No selection statistic against one difference's error: S1 (which of shape and texture is the
  weaker) and S4 (which stage is best on the attribute) name their arm on the first half of the
  scored samples and measure on the second (`halves`), so under no true difference the measured
  figure averages 0 (a min or max over noisy arms, measured on the same samples, does not: the
  old S4's averaged -0.034). S4 is one claim per Trifeature attribute instead of a min over them.
  M1/M2 name their attribute from CLIP's probe on the balanced split, never from the pairs.
- Preconditions: every claim carries one, read from its own trained arms, chosen before the
  comparison and never reading the compared arms' difference (a failed one makes the claim "not
  answerable here" instead of "not held"). Each asks that an arm probes the attribute the claim
  is about above chance by the `learnable` margin (low end of the 95% interval over seeds):
  S1, S3-S6 the concatenation of all stages on their attributes (the old S0, "the suppressed
  attributes are learnable here", which no paper states); S2 SimCLR's stage 1 on colour, the
  feature its clusters are said to track; M1/M2 both plain CLIP and MCL-CLIP on the attribute
  the pairs differ in (pairs that differ in an attribute neither arm holds decide nothing).
- Pair counts: the MMVP-style pairs per attribute are set in configs/mcl2024/scales.yaml so that
  pair sampling alone leaves a 0.05 difference decidable at the scale's seeds (`power`); each
  M row states the floor of its own run.

Worlds: the claims are the spec's on `shapes`; on another world (`roles`) they are asked of its
counterparts (fashion: the item where the spec has shape and texture, the tint for colour,
chance over the values its balanced split draws), and a per-attribute claim about an attribute
it has no counterpart for is a row "not answerable here" with the reason (`absent_rows`).

Removed with earlier redesigns (issue 13): the old S6 (stage-3 groups' NMI with colour) could not
fail as built and is replaced by a test of spec item 6 itself (does a latest_only stage re-learn
colour); the old M1 picked CLIP's weakest MMVP attribute after the fact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mmcl.eval.tasks import CORRECT_KEY, unpack_correct
from mmcl.experiments import grids
from mmcl.experiments.grids import Margin, grid_path
from mmcl.experiments.mcl2024 import power
from mmcl.experiments.mcl2024.roles import SHAPES, Roles
from mmcl.stats import (
    PER_SEED,
    Check,
    Claim,
    Greater,
    Precondition,
    estimate,
    paired_accuracy_se,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# The spec's design on `shapes` (`roles`); a run on another world reads its own `Roles`.
DOMINANT = SHAPES.dominant  # the easy feature under weak colour augmentation (spec 2)
SUPPRESSED = SHAPES.suppressed  # what the spec expects SimCLR to suppress (spec 5.1)
TRIFEATURE = SHAPES.trifeature  # the attributes the spec's design probes (spec 2)


# ---- margins (configs/mcl2024/claims.yaml) ------------------------------------------------------
MARGIN_NAMES = (
    "min_gain", "concat_non_inferiority", "suppression_gap", "nmi_gap", "learnable",
    "mmvp_min_gain", "mmvp_non_inferiority",
)  # fmt: skip


def read_margins(path: Path | Traversable) -> dict[str, Margin]:
    """Every margin of `MARGIN_NAMES` from the file's `margins` section, no more, no fewer; each
    a magnitude (>= 0), its sign set by the claim that uses it."""
    return grids.read_margins(path, MARGIN_NAMES, "margin", magnitudes=True)


MARGINS = read_margins(grid_path("mcl2024", "claims.yaml"))


def _above(name: str) -> Greater:
    """An effect must exceed the margin `name`."""
    return Greater(MARGINS[name].value, reason=MARGINS[name].reason)


def _not_below(name: str) -> Greater:
    """Non-inferiority: the difference must not fall below -margin `name`."""
    return Greater(-MARGINS[name].value, reason=MARGINS[name].reason)


def chance(attribute: str, roles: Roles = SHAPES) -> float:
    """Chance of a probe on `attribute` in the world of `roles` (`Roles.chance`)."""
    return roles.chance[attribute]


def _paper(direction: str) -> str:
    return f"{direction}; figure unknown [NR]"


def _concat_claim(attribute: str) -> Claim:
    return Claim(
        f"S4-concat-{attribute}",
        f"the concatenation of all stages probes {attribute} at least as well as the best single "
        f"stage, within {MARGINS['concat_non_inferiority'].value:g} (the best stage named on one "
        "half of the scored samples, the difference measured on the other)",
        _paper("concatenation >= best single stage on every attribute, within seed noise"),
        f"{attribute} probe, second half: concatenation - the stage best on the first half",
        _not_below("concat_non_inferiority"),
    )


class Words(NamedTuple):
    """How the claims name the suppressed attributes: the spec's two on shapes ("the weaker of
    shape and texture"), one on a world with one (fashion: "item", nothing left to name)."""

    slash: str  # "shape/texture"
    listed: str  # "attributes (shape, texture)"
    weaker: str  # S1's compared attribute
    weaker_how: str  # how S1 picks and measures it
    nmi: str  # S2's compared NMI, in words
    nmi_figure: str  # and as a formula
    reading: str  # how the world reads the spec's attributes ("" on shapes)


def words(roles: Roles) -> Words:
    s = roles.suppressed
    nmis = ", ".join(f"NMI({a})" for a in s)
    reading = f" ({roles.reading})" if roles.reading else ""
    if len(s) == 1:
        return Words(s[0], f"attribute ({s[0]})", s[0],
                     "measured on the second half of the scored samples", nmis, nmis,
                     reading)  # fmt: skip
    both = " and ".join(s)
    return Words(
"/".join(s), f"attributes ({', '.join(s)})", f"the weaker of {both}",
        "the weaker named on one half of the scored samples, the gap measured on the other",
        f"the larger of {nmis}", f"max({nmis})", reading,
    )  # fmt: skip


def claims_for(roles: Roles) -> dict[str, Claim]:
    """The claims as the world of `roles` asks them (`CLAIMS`: shapes, the spec's own words)."""
    w = words(roles)
    return {
        "S1": Claim(
            "S1-suppression",
            f"SimCLR (weak colour augmentation) probes colour clearly above {w.weaker} (gap > "
            f"{MARGINS['suppression_gap'].value:g}; {w.weaker_how}){w.reading}",
            _paper("colour ~100%, shape and/or texture clearly lower"),
            "SimCLR probe, second half: colour - "
            + (
                f"the weaker of {w.slash} on the first half"
                if len(roles.suppressed) > 1
                else w.weaker
            ),
            _above("suppression_gap"),
        ),
        "S2": Claim(
            "S2-clusters",
            f"stage-1 k-means clusters align with colour: NMI(colour) exceeds {w.nmi} by > "
            f"{MARGINS['nmi_gap'].value:g}{w.reading}",
            _paper("NMI(colour) >> NMI(shape) ~ NMI(texture) ~ 0"),
            f"stage-1 clusters: NMI(colour) - {w.nmi_figure}",
            _above("nmi_gap"),
        ),
        "S3": Claim(
            "S3-stage2",
            f"stage 2 alone probes the suppressed {w.listed} higher than stage 1 "
            f"(mean gain > {MARGINS['min_gain'].value:g}){w.reading}",
            _paper("stage 2 clearly higher on shape/texture; its colour may fall"),
            f"mean {w.slash} probe, stage 2 - stage 1",
            _above("min_gain"),
        ),
        **{f"S4-{a}": _concat_claim(a) for a in roles.trifeature},
        "S5c": Claim(
            "S5-control",
            f"stages 1+2 of MCL probe {w.slash} higher than stage 1 + an ordinary second SimCLR "
            f"run on random batches, at equal width (mean gain > "
            f"{MARGINS['min_gain'].value:g}){w.reading}",
            _paper("a random-batch second stage does not recover the suppressed features"),
            f"mean {w.slash} probe, MCL stages 1+2 - (stage 1 + control)",
            _above("min_gain"),
        ),
        "S5w": Claim(
            "S5-width",
            f"stages 1+2 of MCL probe {w.slash} higher than one SimCLR model with as many "
            f"backbone features (twice the width) (mean gain > "
            f"{MARGINS['min_gain'].value:g}){w.reading}",
            _paper("MCL recovers suppressed features (implied: not by width alone)"),
            f"mean {w.slash} probe, MCL stages 1+2 - SimCLR of equal width",
            _above("min_gain"),
        ),
        "S6": Claim(
            "S6-latest-only",
            "a stage 3 on the reference code's latest_only groups re-learns colour: it probes "
            f"colour higher than stage 3 on accumulated groups (gain > "
            f"{MARGINS['min_gain'].value:g})",
            _paper(
                "correct: colour x stage-2 groups; latest_only may re-learn colour (spec item 6)"
            ),
            "colour probe of stage 3, latest_only - accumulated",
            _above("min_gain"),
        ),
        "M1": Claim(
            "M1-mmvp-suppressed",
            "MMVP-style pairs (both-correct rule, chance 0.25) of the attribute plain CLIP probes "
            "worst (named from the probe before scoring): MCL-CLIP beats CLIP by more than one "
            "pair in 15, paired over pairs",
            "MMVP-VLM mean (real data, ViT-L-14): CLIP 0.200 -> MCL 0.326; up to 3x on attributes",
            "pair accuracy on CLIP's worst-probed attribute, MCL-CLIP - CLIP",
            _above("mmvp_min_gain"),
        ),
        "M2": Claim(
            "M2-mmvp-dominant",
            "on the attribute plain CLIP probes best, MCL-CLIP is not worse than CLIP by one pair "
            "in 15 or more (non-inferiority, paired over pairs)",
            _paper(
                "MCL raises the suppressed attribute without lowering the dominant one (spec 9)"
            ),
            "pair accuracy on CLIP's best-probed attribute, MCL-CLIP - CLIP",
            _not_below("mmvp_non_inferiority"),
        ),
    }


CLAIMS = claims_for(SHAPES)

CHECKS = {
    "copies": Check(
        "mmvp-identical-copies",
        "MMVP-style pairs: CLIP concatenated with itself scores every pair as CLIP does (spec 8)",
        0.0,
    ),
}


# ---- per-seed figures -------------------------------------------------------------------------
class Figure(NamedTuple):
    """One seed's figure, its test-sample error (recorded only: PER_SEED) and, for S1/S4, the
    attribute or stage the first half of the scored samples named."""

    value: float
    se: float | None
    named: str = ""


def correct(r: dict, model: str, attribute: str) -> np.ndarray:
    """Per scored sample, whether `model`'s probe on `attribute` was right (n_probe_test bools)."""
    packed = r["correct"][model][attribute]
    return unpack_correct({CORRECT_KEY: packed, "n_samples": r["n_probe_test"]})


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(naming, measuring) masks over the n scored samples: the first half names an attribute
    or stage, the second half measures the figure on it. The balanced split is drawn i.i.d., so
    the halves are independent draws and the naming cannot favour the measured figure."""
    naming = np.arange(n) < n // 2
    return naming, ~naming


def _paired(a: np.ndarray, b: np.ndarray, named: str = "") -> Figure:
    """mean(a) - mean(b) over the same samples (per-sample scores in [0, 1]), paired error."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return Figure(float(a.mean() - b.mean()), paired_accuracy_se(a, b), named)


def _mean_correct(r: dict, model: str, attributes: Sequence[str]) -> np.ndarray:
    """Per sample, the fraction of `attributes` that `model`'s probes get right."""
    return np.mean([correct(r, model, a) for a in attributes], axis=0)


def _stage_keys(models: dict[str, Any]) -> list[str]:
    """stage1, stage2, ... (accumulated groups), in order."""
    return sorted((k for k in models if re.fullmatch(r"stage\d+", k)), key=lambda k: int(k[5:]))


def learnable_figure(
    r: dict, attributes: Sequence[str], model: str = "concat", roles: Roles = SHAPES
) -> Figure:
    """`model`'s mean probe on `attributes` - their mean chance (a precondition's figure)."""
    got = _mean_correct(r, model, attributes)
    return _paired(got, np.full_like(got, np.mean([chance(a, roles) for a in attributes])))


def suppression_figure(r: dict, roles: Roles = SHAPES) -> Figure:
    """S1: colour - the weaker of shape/texture, the weaker named on the first half (one
    suppressed attribute, as on fashion: that one, measured on the second half all the same)."""
    naming, measuring = halves(r["n_probe_test"])
    weaker = min(roles.suppressed, key=lambda a: correct(r, "stage1", a)[naming].mean())
    dominant = correct(r, "stage1", roles.dominant)
    return _paired(dominant[measuring], correct(r, "stage1", weaker)[measuring], weaker)


def clusters_figure(r: dict, roles: Roles = SHAPES) -> Figure:
    """S2. The max over shape/texture stays: it is a max of two NMIs that the spec expects near
    0, whose sampling noise on the 3000-sample train split is a few thousandths, two orders
    below the 0.3 gap (and it can only make "held" harder); its noise is in the seed spread."""
    nmi = r["nmi"]["stage1_clusters"]
    return Figure(nmi[roles.dominant] - max(nmi[a] for a in roles.suppressed), None)


def _mean_gain(r: dict, a: str, b: str, roles: Roles = SHAPES) -> Figure:
    return _paired(_mean_correct(r, a, roles.suppressed), _mean_correct(r, b, roles.suppressed))


def stage2_figure(r: dict, roles: Roles = SHAPES) -> Figure:
    return _mean_gain(r, "stage2", "stage1", roles)


def concat_figure(r: dict, attribute: str) -> Figure:
    """S4: concatenation - the stage best on `attribute` in the first half, on the second."""
    naming, measuring = halves(r["n_probe_test"])
    best = max(_stage_keys(r["correct"]), key=lambda k: correct(r, k, attribute)[naming].mean())
    concat, stage = correct(r, "concat", attribute), correct(r, best, attribute)
    return _paired(concat[measuring], stage[measuring], best)


def control_figure(r: dict, roles: Roles = SHAPES) -> Figure:
    return _mean_gain(r, "concat_2", "control_concat", roles)


def width_figure(r: dict, roles: Roles = SHAPES) -> Figure:
    return _mean_gain(r, "concat_2", "wide", roles)


def latest_only_figure(r: dict, roles: Roles = SHAPES) -> Figure:
    a = roles.dominant
    return _paired(correct(r, "stage3_latest_only", a), correct(r, "stage3", a))


def named_attribute(r: dict, worst: bool, roles: Roles = SHAPES) -> str:
    """The Trifeature attribute plain CLIP (MCL-CLIP's stage 1) probes worst (or best) on.

    Named from the probe on the balanced split, never from the MMVP-style pairs it is then
    tested on, so the choice cannot favour either model on those pairs.
    """
    probes = r["probes"]["clip"]
    pick = min if worst else max
    return pick(roles.trifeature, key=lambda a: probes[a])


def mmvp_figure(r: dict, attribute: str) -> Figure:
    """Pair accuracy MCL-CLIP - CLIP on `attribute`'s pairs; standard error paired over pairs."""
    clip = np.asarray(r["mmvp"]["clip"][attribute], dtype=float)
    mcl = np.asarray(r["mmvp"]["mcl_clip"][attribute], dtype=float)
    return _paired(mcl, clip, attribute)


# ---- preconditions ----------------------------------------------------------------------------
ARMS = {
    "concat": "the concatenation of all SimCLR-MCL stages",
    "stage1": "SimCLR (MCL's stage 1)",
    "clip": "plain CLIP (MCL-CLIP's stage 1)",
    "mcl_clip": "MCL-CLIP (its two stages concatenated)",
}  # the arms a precondition reads, as its rule names them


def _learns(
    raw: Sequence[dict], model: str, attributes: Sequence[str], roles: Roles = SHAPES
) -> tuple[bool, str]:
    """Whether `model` probes `attributes[s]` (seed s's attribute) above chance by more than the
    `learnable` margin (the low end of the 95% interval over seeds; one seed: its value)."""
    margin = MARGINS["learnable"].value
    values = [
        learnable_figure(r, (a,), model, roles).value for r, a in zip(raw, attributes, strict=True)
    ]
    est = estimate(values, test=PER_SEED)  # each seed's own world, so its own balanced split
    met = est.low > margin if est.low is not None else values[0] > margin
    label = attributes[0] if len(set(attributes)) == 1 else "named-attribute"
    return bool(met), f"{model} {label} probe - chance: {est.text()}"


def _learned_by(
    raw: Sequence[dict],
    models: Sequence[str],
    per_seed: Sequence[Sequence[str]],
    what: str,
    roles: Roles = SHAPES,
) -> dict[str, str]:
    """The precondition that every arm of `models` learns each attribute of `what`: per seed,
    `per_seed[s]` names them (each one judged on its own, never their mean)."""
    margin = MARGINS["learnable"]
    arms = " and ".join(ARMS[m] for m in models)
    rule = Precondition(
        f"{arms} each probe {what} above chance by > {margin.value:g} (the low end of the 95% "
        f"interval over seeds), fixed before the comparison: {margin.reason}"
    )
    columns = list(zip(*per_seed, strict=True))  # one attribute per seed, for each of `what`
    results = [_learns(raw, m, column, roles) for m in models for column in columns]
    evidence = f"{what}: " + "; ".join(text for _, text in results)
    return rule.result(all(met for met, _ in results), evidence)


def learned(
    raw: Sequence[dict],
    attributes: Sequence[str],
    models: Sequence[str] = ("concat",),
    roles: Roles = SHAPES,
) -> dict[str, str]:
    """The precondition of a claim about `attributes`: the arms `models` learn them (by default
    the concatenation, for S1 and S3-S6). It reads those arms' probes alone, never the compared
    arms' difference, so it cannot favour either verdict."""
    what = " and ".join(attributes)
    return _learned_by(raw, models, [attributes] * len(raw), what, roles)


def mmvp_learned(
    raw: Sequence[dict], named: Sequence[str], roles: Roles = SHAPES
) -> dict[str, str]:
    """The precondition of M1/M2: plain CLIP and MCL-CLIP both learn the attribute the scored
    pairs differ in (`named`, one per seed, from CLIP's probe before any pair is scored). Pairs
    that differ in an attribute neither arm's features hold cannot tell the arms apart."""
    what = "the attribute the pairs differ in (per seed: " + ", ".join(named) + ")"
    return _learned_by(raw, ("clip", "mcl_clip"), [(a,) for a in named], what, roles)


# ---- rows --------------------------------------------------------------------------------------
def _decide(
    claim: Claim,
    figures: Sequence[Figure],
    detail: str,
    precondition: dict[str, str],
) -> dict[str, Any]:
    values = [f.value for f in figures]
    ses = None if all(f.se is None for f in figures) else [f.se or 0.0 for f in figures]
    # PER_SEED: every seed has its own world, so its own balanced split and pairs (module doc).
    est = estimate(values, ses, test=PER_SEED)
    return claim.decide(est, detail=detail, precondition=precondition)


def _mean_probes(raw: Sequence[dict], model: str, attributes: Sequence[str]) -> str:
    means = {a: np.mean([r["probes"][model][a] for r in raw]) for a in attributes}
    return f"{model} " + ", ".join(f"{a} {v:.3f}" for a, v in means.items())


def _mean_nmi(raw: Sequence[dict], clusters: str, roles: Roles = SHAPES) -> str:
    means = {a: np.mean([r["nmi"][clusters][a] for r in raw]) for a in roles.trifeature}
    return f"NMI {clusters} " + ", ".join(f"{a} {v:.3f}" for a, v in means.items())


def _named(figures: Sequence[Figure], what: str) -> str:
    return f"{what} named on the first half, per seed: " + ", ".join(f.named for f in figures)


def _mmvp_claim(raw: Sequence[dict], claim: Claim, worst: bool, roles: Roles) -> dict[str, Any]:
    named = [named_attribute(r, worst, roles) for r in raw]
    figures = [mmvp_figure(r, a) for r, a in zip(raw, named, strict=True)]
    rates = [
        f"{a} {np.mean(r['mmvp']['clip'][a]):.2f}->{np.mean(r['mmvp']['mcl_clip'][a]):.2f}"
        for r, a in zip(raw, named, strict=True)
    ]
    detail = f"per seed (CLIP -> MCL-CLIP): {', '.join(rates)}; {_pair_floor(raw, named)}"
    return _decide(claim, figures, detail, mmvp_learned(raw, named, roles))


def _pair_floor(raw: Sequence[dict], named: Sequence[str]) -> str:
    """The pair-sampling floor of this run's interval (`power`), from its measured variance."""
    pairs = [
        (r["mmvp"]["mcl_clip"][a], r["mmvp"]["clip"][a]) for r, a in zip(raw, named, strict=True)
    ]
    variance = max(power.pair_variance(*p) for p in pairs)
    n = min(len(mcl) for mcl, _ in pairs)
    if len(raw) < 2:
        return f"{n} pairs per attribute, per-pair variance {variance:.3f}"
    floor = power.pair_floor(variance, n, len(raw))
    return f"{n} pairs per attribute, per-pair variance {variance:.3f}, pair floor ±{floor:.3f}"


def claim_rows(raw: Sequence[dict], roles: Roles = SHAPES) -> list[dict[str, Any]]:
    """Every claim the world of `roles` can ask, its (raw) row decided over the seeds of `raw`
    by its rule; the family step (`mmcl.verdicts.decide_families`) is the runner's, after the
    learnability gates. The claims about an attribute the world lacks are `absent_rows`."""
    claims = claims_for(roles)
    dominant, suppressed = (roles.dominant,), roles.suppressed

    def probes(model: str) -> str:
        return _mean_probes(raw, model, roles.trifeature)

    def row(key: str, figure: Callable, detail: str, on: Sequence[str], models=("concat",)):
        """One probe claim; its precondition: `models` learn the attributes `on`."""
        figures = [figure(r, roles) for r in raw]
        return _decide(claims[key], figures, detail, learned(raw, on, models, roles))

    def concat_row(attribute: str) -> dict[str, Any]:
        figures = [concat_figure(r, attribute) for r in raw]
        detail = f"{probes('concat')}; {_named(figures, 'best stage')}"
        return _decide(claims[f"S4-{attribute}"], figures, detail, learned(raw, (attribute,),
                                                                          roles=roles))  # fmt: skip

    s1 = [suppression_figure(r, roles) for r in raw]
    s1_detail = probes("stage1")
    if len(suppressed) > 1:  # one suppressed attribute: nothing to name
        s1_detail += f"; {_named(s1, 'weaker attribute')}"
    nmi = [_mean_nmi(raw, c, roles) for c in ("stage3_latest_only_clusters", "stage3_clusters")]
    latest = f"{probes('stage3_latest_only')}; {nmi[0]} vs {nmi[1]}"
    return [
        _decide(claims["S1"], s1, s1_detail, learned(raw, suppressed, roles=roles)),
        row(
            "S2", clusters_figure, _mean_nmi(raw, "stage1_clusters", roles), dominant, ("stage1",)
        ),  # fmt: skip
        row("S3", stage2_figure, probes("stage2"), suppressed),
        *(concat_row(a) for a in roles.trifeature),
        row("S5c", control_figure, probes("control_concat"), suppressed),
        row("S5w", width_figure, probes("wide"), suppressed),
        row("S6", latest_only_figure, latest, dominant),
        _mmvp_claim(raw, claims["M1"], True, roles),
        _mmvp_claim(raw, claims["M2"], False, roles),
    ]


ABSENT_FAMILY = "not asked: the world lacks the attribute"


def absent_rows(roles: Roles) -> list[dict[str, Any]]:
    """The spec's per-attribute claims (S4) about an attribute the world has no counterpart for,
    each "not answerable here" with the world's reason: no figure, no p-value, and a family of
    its own, so a claim never asked does not weigh on the Holm step of the claims asked."""
    rows = []
    for attribute, why in roles.absent.items():
        if attribute not in SHAPES.trifeature:  # the spec asks nothing of it
            continue
        rule = Precondition(f"the {roles.world} world shows the attribute the claim is about")
        row = _concat_claim(attribute).decide(
            estimate([0.0], test=PER_SEED), precondition=rule.result(False, why)
        )
        rows.append({**row, "ours": f"no figure: {why}", "estimate": None,
                     "interval": (None, None), "per_seed": [], "n_seeds": 0, "se": None,
                     "se_seed": None, "se_test": None, "df": None, "exact": False,
                     "leans": None, "p_value": 1.0, "family": ABSENT_FAMILY})  # fmt: skip
    return rows


def check_rows(raw: Sequence[dict]) -> list[dict[str, Any]]:
    """The identity checks: the largest fraction of pairs scored differently, over seeds."""
    differ = [
        float(np.mean(np.asarray(r["mmvp"]["clip_twice"][a]) != np.asarray(r["mmvp"]["clip"][a])))
        for r in raw
        for a in r["mmvp"]["clip"]
    ]
    return [CHECKS["copies"].result(max(differ))]
