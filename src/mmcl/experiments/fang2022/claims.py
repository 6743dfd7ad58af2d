"""The claims of Fang et al. 2022 as rules fixed before the run, decided from raw per-seed numbers.

Everything here is pure: `decide_claims(raw)` takes the raw results dict (built by
`runner.raw_results`, or fabricated by a test) and returns `mmcl.stats.Claim` rows, each with its
own (raw) verdict; the runner passes them through `mmcl.verdicts.decide_families` (one family:
the paper).

Raw results:
    {"n_test": int,                      # images per test split
     "line": {"transform", "slope", "intercept", "r", "n", "eps",
              "coeffs": [[intercept, slope], ...]},   # bootstrap refits of the testbed line
     "points": {role: {"id": [acc per seed], "ood": [{shift: acc} per seed],
                       "correct": [{"id": rec, "ood": {shift: rec}} per seed]}}}
plus "chance" (1 / classes) and "testbed": {"labels", "id", "fitted"} per testbed model, which
the preconditions read (`preconditions`); `rec` is {"n_samples", "correct"}: the accuracy
record's packed per-sample correctness (`mmcl.eval.tasks.unpack_correct`), in the split's fixed
sample order.

Effective robustness of one point: ER = y - β(x) in accuracy points, x its ID accuracy, y its mean
accuracy over the shifts (averaged before the transform, as Fang), β the testbed line.

A comparison's estimate is ΔER = ER(treatment) - ER(control), paired by training seed. Every
model of every seed is scored on the same test images, the splits of one evaluation world that no
seed changes (`runs`, `testbed.eval_world`), so the design is `stats.SHARED`: test-sample noise
is common to all seeds and is added once, undivided. The interval holds
- training-seed variance: the spread of the per-seed ΔER (each seed retrains both models);
- test-sample variance, per seed, *paired*: both models answer the same images, so the error of
  their difference comes from per-sample differences, not two binomial errors in quadrature
  (two models of one world agree on most images). By the delta method, ΔER's test part is
  Δy - (β'(x_t) x_t - β'(x_c) x_c): its variance is the mean over shifts of the paired accuracy
  error (`stats.paired_accuracy_se`) plus, on the ID split, the variance of the mean of the
  per-sample β'(x_t) c_t - β'(x_c) c_c (the ID and shift splits hold different images, so the
  two parts are independent);
- the line's uncertainty: the standard deviation over the line's bootstrap refits (resampling
  the testbed's runs, each with all its snapshots: checkpoints of one run are not independent
  models) of β(x_t) - β(x_c), the part of the line that ΔER depends on; the testbed
  is trained once, so this too is shared by all seeds.

Rules (the spec's sec. 2 verdict: only the training distribution matters), every margin fixed
before the run in configs/fang2022/claims.yaml with its reason (`read_margins`):
- F2 "the distribution raises ER" (and its CE twin): `Greater(distribution)`, the same 3 pp the
  equivalences call negligible; "an ID-fitted head lowers ER": `Greater(id_head)` = 0, a
  direction.
- F1, F3, F4, F5 "this cause does not explain the robustness": `Equivalent(equivalence)`, a fixed
  number of ER points. (Until issue 25 the margin was a third of F2's *point estimate* and the
  equivalences waited on F2's verdict; a margin must not depend on the run it judges, so F2 no
  longer gates them: each claim stands on its own interval.)
- F0 "standard models lie on a line": r > `line_r` (spec sec. 6.1), one testbed (trained once,
  seed 0) of n models from k runs, so its interval is Fisher's z over the k independent runs
  (se 1 / sqrt(k - 3), normal; a run's snapshots move together, so they add points, not
  independent evidence), decided on the z scale so that its p-value and its interval agree. It
  is a finding that can come out either way and belongs to the paper's family (the family-wise
  error covers every verdict the paper prints); seeds do not shrink it, testbed runs do
  (`explain`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as scipy_stats

from mmcl import stats
from mmcl.errors import MMCLError
from mmcl.eval.robustness import get_transform
from mmcl.eval.tasks import unpack_correct
from mmcl.experiments.fang2022.preconditions import (
    SpanRule,
    comparison_precondition,
    line_precondition,
)
from mmcl.experiments.grids import Margin, grid_path, read_grid

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

DISTRIBUTION = "F2-distribution"
LINE_ID = "F0-line"
ID_SPLIT = "id"  # the evaluation world's in-distribution split (`runs.ID_SPLIT`)


MARGIN_KEYS = ("equivalence", "distribution", "id_head", "line_r")
SPAN_KEYS = ("span_points", "span_pad", "span_reach")
SECTIONS = ("margins", "preconditions")
MARGINS_FILE = grid_path("fang2022", "claims.yaml")


def read_margins(path: Path | Traversable = MARGINS_FILE) -> dict[str, Margin]:
    """The `margins` section of claims.yaml: exactly `MARGIN_KEYS`, each {value, reason}; a
    mistake is an MMCLError naming the file and the key."""
    margins = read_grid(path, SECTIONS).table(Margin, "margins", MARGIN_KEYS, kind="margin")
    if margins["equivalence"].value <= 0:
        raise MMCLError(f"{path}: margins.equivalence.value must be > 0")
    if not 0 < margins["line_r"].value < 1:
        raise MMCLError(f"{path}: margins.line_r.value must lie in (0, 1)")
    return margins


MARGINS = read_margins()


def read_span_rule(path: Path | Traversable = MARGINS_FILE) -> SpanRule:
    """The `preconditions` section of claims.yaml (`SPAN_KEYS`, each {value, reason}): how
    densely the testbed must cover the models a claim judges (`preconditions`)."""
    table = read_grid(path, SECTIONS).table(Margin, "preconditions", SPAN_KEYS, kind="key")
    points = table["span_points"].value
    if points < 1 or points != int(points):
        raise MMCLError(f"{path}: preconditions.span_points.value must be a whole number >= 1")
    for key in ("span_pad", "span_reach"):
        if not 0 <= table[key].value < 1:
            raise MMCLError(f"{path}: preconditions.{key}.value must lie in [0, 1)")
    return SpanRule(int(points), table["span_pad"].value, table["span_reach"].value)


SPAN_RULE = read_span_rule()


@dataclass(frozen=True)
class Comparison:
    """One claim: ΔER between two roles (`causes.ROLES`) and how it is decided.

    kind: "greater" (ΔER above the margin) or "equivalent" (|ΔER| within it); margin: the key
    of its margin in claims.yaml.
    """

    claim_id: str
    statement: str
    paper: str
    treatment: str
    control: str
    kind: str
    margin: str


COMPARISONS = (
    Comparison(
        "F1-size",
        "(i) training-set size does not explain the robustness: CLIP on a quarter of the narrow "
        "world vs all of it, ΔER within the margin",
        "(i) no new experiment; cites Taori 2020 and Miller 2021: subsampling the training set "
        "lowers accuracy but leaves ER unchanged, models move along the line (testbed "
        "LOW_ACCURACY_CNN ER ~0 once in the fit, spec sec. 2(i))",
        "clip-narrow-small", "clip-narrow", "equivalent", "equivalence",
    ),
    Comparison(
        DISTRIBUTION,
        "(ii) the training distribution determines robustness: CLIP on the diverse world has "
        "higher ER than CLIP on the narrow world (equal size and steps), on shifts neither "
        "world trains on, by more than the margin",
        "(ii) ImageNet-Captions models lie on the ImageNet line (ER ~0); every YFCC-15M model "
        "lies near the CLIP line (Fig. 1; RN50-YFCC-15M avg5 ER +11.4 pp on baseline A, +8.3 on "
        "B20, spec sec. 5 calc)",
        "clip-diverse/zeroshot", "clip-narrow", "greater", "distribution",
    ),
    Comparison(
        "F2-distribution-ce",
        "(ii) the same without language: cross-entropy on the diverse world has higher ER than "
        "cross-entropy on the narrow world, by more than the margin",
        "(ii)-(iii) every YFCC-trained model, with or without language (NoCLIP: SimCLR->CE on "
        "YFCC-15M-Cls), lies near the CLIP line (figure not retrieved)",
        "ce-diverse", "ce-narrow", "greater", "distribution",
    ),
    Comparison(
        "F3-language-train",
        "(iii) language at training time does not explain the robustness: CLIP on captions vs "
        "cross-entropy on labels of the same narrow images, ΔER within the margin",
        "(iii) CLIP and CE trained on the same ImageNet-Captions images trace the same line, "
        "both ER ~0 (figure not retrieved)",
        "clip-narrow", "ce-narrow", "equivalent", "equivalence",
    ),
    Comparison(
        "F4-language-test",
        "(iv) language at test time does not explain the robustness: a linear head fitted on "
        "the diverse world's labels vs zero-shot prompts, same CLIP features, ΔER within the "
        "margin",
        "(iv) the NoCLIP classifier, scored with a plain 1000-way head (no text at test time), "
        "keeps CLIP-like ER (figure not retrieved)",
        "clip-diverse/probe-train", "clip-diverse/zeroshot", "equivalent", "equivalence",
    ),
    Comparison(
        "F4-prompts",
        "(iv) prompts change accuracy, not ER: one template vs the ensemble, same CLIP, ΔER "
        "within the margin",
        "(iv) the test-time prompt section (figure not retrieved); spec sec. 6.6: one template "
        "vs an ensemble moves points along the same line",
        "clip-diverse/zeroshot-1", "clip-diverse/zeroshot", "equivalent", "equivalence",
    ),
    Comparison(
        "F4-id-head",
        "(iv) a head fitted on the ID set lowers ER: zero-shot minus an ID-fitted linear head on "
        "the same diverse CLIP features is above 0",
        "CLIP paper, adapting zero-shot CLIP to ImageNet (logistic regression): ImageNet +9.2 "
        "pp, R -4.7, ObjectNet -3.8, Sketch -2.8, A -1.9 pp (spec sec. 4)",
        "clip-diverse/zeroshot", "clip-diverse/probe-id", "greater", "id_head",
    ),
    Comparison(
        "F5-loss",
        "(v) the contrastive loss does not explain the robustness: CLIP with class-name captions "
        "vs cross-entropy on the same diverse images and labels, ΔER within the margin",
        "(v) SimCLR->CE on YFCC-15M-Cls (NoCLIP, 35.7 % ImageNet) keeps ER close to CLIP's "
        "(loss figure not retrieved)",
        "clip-label-diverse", "ce-diverse", "equivalent", "equivalence",
    ),
)  # fmt: skip


def rule_for(comparison: Comparison, margins: dict[str, Margin] = MARGINS) -> stats.Rule:
    """The comparison's rule with its margin from claims.yaml (module docstring)."""
    margin = margins[comparison.margin]
    if comparison.kind == "greater":
        return stats.Greater(margin.value, reason=margin.reason)
    return stats.Equivalent(margin.value, reason=margin.reason)


def line_claim(margins: dict[str, Margin] = MARGINS) -> stats.Claim:
    """F0 on the z scale: Fisher's z of the line's r against atanh(line_r)."""
    r0 = margins["line_r"]
    return stats.Claim(
        LINE_ID,
        "standard supervised models (the testbed) lie on one line in logit space, ID vs the "
        f"mean over the shifts: r above {r0.value:g}",
        "testbed standard models: r 0.97 (avg5), spec sec. 5; sec. 6.1 expects r > 0.95 on a "
        "supervised family",
        f"Fisher z = atanh(r) of the testbed line (r {r0.value:g} is z {math.atanh(r0.value):.3f})",
        stats.Greater(math.atanh(r0.value), reason=r0.reason),
    )


def _line_pred(line: dict, x: np.ndarray, coeffs: np.ndarray | None = None) -> np.ndarray:
    """β(x) as a fraction; with `coeffs` (B, 2) one row per refit, shape (B, len(x))."""
    t = get_transform(line["transform"])
    tx = t.forward(np.clip(x, line["eps"], 1 - line["eps"]))
    if coeffs is None:
        return t.inverse(line["intercept"] + line["slope"] * tx)
    return t.inverse(coeffs[:, :1] + coeffs[:, 1:] * tx[None, :])


def _line_slope(line: dict, x: np.ndarray) -> np.ndarray:
    """β'(x), by a central difference (the delta method's derivative)."""
    h = 1e-4
    return (_line_pred(line, x + h) - _line_pred(line, x - h)) / (2 * h)


def _mean_ood(point: dict) -> np.ndarray:
    """(S,) per-seed y: the mean over the shifts."""
    return np.array([np.mean(list(ood.values())) for ood in point["ood"]])


def er_per_seed(point: dict, line: dict) -> np.ndarray:
    """(S,) ER in accuracy points, one per seed."""
    x = np.asarray(point["id"], dtype=float)
    return 100.0 * (_mean_ood(point) - _line_pred(line, x))


def er_test_se(point: dict, line: dict, n_test: int) -> np.ndarray:
    """(S,) binomial test-sample standard error of one point's ER (pp): y and x through β.

    For reading only: a difference of two points scored on the same images takes
    `paired_test_se`; adding two of these in quadrature is the unpaired error it replaces.
    """
    x = np.asarray(point["id"], dtype=float)
    var_y = np.array(
        [sum(p * (1 - p) for p in ood.values()) / n_test / len(ood) ** 2 for ood in point["ood"]]
    )
    var_x = x * (1 - x) / n_test
    return 100.0 * np.sqrt(var_y + _line_slope(line, x) ** 2 * var_x)


def unpaired_test_se(treatment: dict, control: dict, line: dict, n_test: int) -> np.ndarray:
    """(S,) the two points' binomial ER errors in quadrature (pp): what pairing improves on."""
    return np.hypot(er_test_se(treatment, line, n_test), er_test_se(control, line, n_test))


def _correct(point: dict, seed: int, role: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One seed's per-sample correctness: the ID split's and each shift's (bool arrays)."""
    if "correct" not in point:
        raise MMCLError(
            f"{role}: the raw results hold no per-sample correctness, so ΔER has no paired "
            "test-sample error; rescore the runs with this version of mmcl"
        )
    seen = point["correct"][seed]
    id_correct = unpack_correct(seen[ID_SPLIT])
    ood_correct = {s: unpack_correct(r) for s, r in seen["ood"].items()}
    # The correctness must be the accuracy's own (a record of another model or split would
    # pair the wrong samples): the same count of right samples, to within half a sample (the
    # accuracy may have been averaged in float32).
    pairs = [(ID_SPLIT, id_correct, point["id"][seed])]
    pairs += [(s, ood_correct[s], acc) for s, acc in point["ood"][seed].items()]
    for split, bits, acc in pairs:
        if abs(float(np.mean(bits)) - acc) > 0.5 / max(bits.size, 1):
            raise MMCLError(
                f"{role}, seed {seed}, {split}: per-sample correctness gives accuracy "
                f"{np.mean(bits):.6f} but the point has {acc:.6f}"
            )
    return id_correct, ood_correct


def _mean_se(diff: np.ndarray) -> float:
    """Standard error of the mean of per-sample values (0 for a constant)."""
    return float(np.std(diff, ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan


def paired_test_se(raw: dict, treatment: str, control: str) -> np.ndarray:
    """(S,) test-sample standard error of ΔER per seed (pp), paired on the shared images.

    Var = (1/K^2) sum_k paired_se(shift k)^2 + Var(mean_i [β'(x_t) c_t,i - β'(x_c) c_c,i]) on the
    ID split (module docstring); it equals `paired_accuracy_se` where β' is the same at both x.
    """
    t, c, line = raw["points"][treatment], raw["points"][control], raw["line"]
    slope_t = _line_slope(line, np.asarray(t["id"], dtype=float))
    slope_c = _line_slope(line, np.asarray(c["id"], dtype=float))
    out = []
    for seed in range(len(t["id"])):
        id_t, ood_t = _correct(t, seed, treatment)
        id_c, ood_c = _correct(c, seed, control)
        if set(ood_t) != set(ood_c) or id_t.shape != id_c.shape:
            raise MMCLError(f"{treatment} and {control} were not scored on the same samples")
        var_y = sum(stats.paired_accuracy_se(ood_t[s], ood_c[s]) ** 2 for s in ood_t)
        var_y /= len(ood_t) ** 2
        x_part = slope_t[seed] * id_t.astype(float) - slope_c[seed] * id_c.astype(float)
        out.append(100.0 * math.sqrt(var_y + _mean_se(x_part) ** 2))
    return np.asarray(out)


def line_se(treatment: dict, control: dict, line: dict) -> np.ndarray:
    """(S,) standard deviation (pp) of β(x_t) - β(x_c) over the line's bootstrap refits."""
    coeffs = np.asarray(line.get("coeffs") or [], dtype=float).reshape(-1, 2)
    xt, xc = np.asarray(treatment["id"], float), np.asarray(control["id"], float)
    if len(coeffs) < 2:
        return np.zeros(len(xt))
    gap = _line_pred(line, xt, coeffs) - _line_pred(line, xc, coeffs)  # (B, S)
    return 100.0 * gap.std(axis=0, ddof=1)


def delta_er(raw: dict, treatment: str, control: str) -> stats.Estimate:
    """ΔER = ER(treatment) - ER(control) over seeds, with the module docstring's interval."""
    line = raw["line"]
    t, c = raw["points"][treatment], raw["points"][control]
    if len(t["id"]) != len(c["id"]):
        raise ValueError(f"{treatment} has {len(t['id'])} seeds but {control} {len(c['id'])}")
    se = np.hypot(paired_test_se(raw, treatment, control), line_se(t, c, line))
    # SHARED: every seed's models are scored on the one evaluation world's images (`runs`),
    # and the line is the one testbed's: both noises are common to all seeds.
    return stats.estimate(er_per_seed(t, line) - er_per_seed(c, line), se, test=stats.SHARED)


def shared_parts(raw: dict, comparison: Comparison) -> dict[str, float]:
    """The shared (undivided) term's parts, rms over seeds, pp: the paired test-sample error
    (used), the unpaired one it replaces (for reading), and the line's bootstrap spread."""
    t, c = raw["points"][comparison.treatment], raw["points"][comparison.control]
    return {
        "paired_test_se": _rms(paired_test_se(raw, comparison.treatment, comparison.control)),
        "unpaired_test_se": _rms(unpaired_test_se(t, c, raw["line"], raw["n_test"])),
        "line_se": _rms(line_se(t, c, raw["line"])),
    }


def _detail(raw: dict, comparison: Comparison, parts: dict[str, float]) -> str:
    """Each point's mean ER and ID accuracy, so `ours` shows that the models learned, and the
    shared term's parts (`shared_parts`)."""
    texts = []
    for role in (comparison.treatment, comparison.control):
        point = raw["points"][role]
        er = er_per_seed(point, raw["line"]).mean()
        texts.append(f"{role} ER {er:+.1f} pp, ID acc {100 * np.mean(point['id']):.1f} %")
    texts.append(
        f"test-sample se per seed {parts['paired_test_se']:.2f} pp paired "
        f"({parts['unpaired_test_se']:.2f} unpaired), line {parts['line_se']:.2f} pp"
    )
    return "; ".join(texts)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def decide_comparison(
    raw: dict,
    comparison: Comparison,
    margins: dict[str, Margin] = MARGINS,
    span: SpanRule = SPAN_RULE,
) -> dict:
    """One claim row (raw verdict): ΔER over seeds under the comparison's rule, with its
    precondition (`preconditions`: both arms learn the task, the line covers them)."""
    claim = stats.Claim(
        comparison.claim_id,
        comparison.statement,
        comparison.paper,
        f"ΔER pp, {comparison.treatment} - {comparison.control}",
        rule_for(comparison, margins),
    )
    est = delta_er(raw, comparison.treatment, comparison.control)
    parts = shared_parts(raw, comparison)
    pre = comparison_precondition(raw, comparison.treatment, comparison.control, span)
    row = claim.decide(est, digits=2, detail=_detail(raw, comparison, parts), precondition=pre)
    return {**row, "shared_parts": parts}


def line_estimate(r: float, n: int) -> stats.Estimate:
    """Fisher's z = atanh(r) over n points, se 1 / sqrt(n - 3), normal (df inf): the interval
    and `Rule.test`'s p-value agree. Unbounded for n <= 3 or |r| = 1 (no z to test)."""
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1:
        mean = math.copysign(math.inf, r) if math.isfinite(r) and abs(r) >= 1 else math.nan
        return stats.Estimate(mean, None, None, 1, (r,), test=stats.SHARED)
    z, se = math.atanh(r), 1.0 / math.sqrt(n - 3)
    half = stats.t_quantile(math.inf) * se
    # The testbed is trained once (seed 0): its spread over models is the sample, a term no
    # seed count divides (SHARED, se_seed 0); more testbed runs shrink it (`explain`).
    return stats.Estimate(
        z, z - half, z + half, 1, (z,), se_seed=0.0, se_test=se, test=stats.SHARED,
        se=se, df=math.inf,
    )  # fmt: skip


def decide_line(
    raw: dict, margins: dict[str, Margin] = MARGINS, span: SpanRule = SPAN_RULE
) -> dict:
    """F0's row: Fisher z of the line's r, with its precondition (the testbed spans every
    cause model the line judges)."""
    line = raw["line"]
    runs = line.get("runs", line["n"])  # results written before runs were counted: models
    est = line_estimate(line["r"], runs)
    r_text = f"r {line['r']:.3f}"
    if est.low is not None:
        r_text += f" [{math.tanh(est.low):.3f}, {math.tanh(est.high):.3f}]"
    detail = (
        f"{r_text} over n {line['n']} testbed models from {runs} runs (one seed each), slope "
        f"{line['slope']:.3f}, intercept {line['intercept']:.3f}; interval: Fisher z over the "
        "runs, since the snapshots of one run are not independent models"
    )
    pre = line_precondition(raw, list(raw["points"]), span)
    return line_claim(margins).decide(est, digits=3, detail=detail, precondition=pre)


def models_needed(row: dict[str, Any], alpha: float) -> int | None:
    """Independent testbed runs at which F0's Fisher-z interval at level `alpha` would clear
    its bound."""
    distance = abs(row["estimate"] - row["margin"])
    if not math.isfinite(distance) or distance == 0:
        return None
    q = float(scipy_stats.norm.ppf(1 - alpha / 2))
    return math.ceil((q / distance) ** 2 + 3)


def _next_level(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float:
    """The level the next Holm step of the row's family tests at (`verdicts.decide_families`)."""
    family = [r for r in rows if r["family"] == row["family"]]
    decided = sum(r["verdict"] != stats.INCONCLUSIVE for r in family)
    return row["family_alpha"] / max(1, len(family) - decided)


def _line_needs(row: dict[str, Any], level: float) -> str:
    n = models_needed(row, level)
    if n is None:
        return "never: r sits on the boundary, or too few runs (n <= 3) or |r| = 1 for a z"
    return (
        f"not seeds (one testbed, trained once): about {n} independent testbed runs would "
        f"decide it at level {level:.2g}"
    )


def _floor_needs(row: dict[str, Any], level: float) -> str:
    """What the shared floor is made of, when no seed count clears it: mostly the line (a
    testbed of more models pins it down), or the test samples (more of them)."""
    parts = row["shared_parts"]
    floor = float(scipy_stats.norm.ppf(1 - level / 2)) * row["se_test"]
    distance = (
        abs(row["margin"] - abs(row["estimate"]))
        if row["rule_kind"] == "Equivalent"
        else (abs(row["estimate"] - row["margin"]))
    )
    lever = "testbed models" if parts["line_se"] >= parts["paired_test_se"] else "test samples"
    return (
        f"never by seeds: the shared floor {floor:.3g} pp (the line's bootstrap spread "
        f"{parts['line_se']:.2f} pp, paired test samples {parts['paired_test_se']:.2f} pp, at "
        f"level {level:.2g}) >= distance {distance:.3g} pp to the boundary; it needs more "
        f"{lever}"
    )


def explain(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """After `decide_families`: an undecided claim whose interval seeds cannot shrink enough says
    what would. F0's figure does not move with seeds at all (one testbed): it names testbed
    models. A ΔER whose shared term alone is wider than its distance to the boundary says
    whether the line (testbed models) or the test samples make that floor; `verdicts` calls
    the whole shared term "test samples", but here most of it is usually the line."""
    out = []
    for row in rows:
        undecided = row["verdict"] == stats.INCONCLUSIVE
        if not undecided or row["precondition"]["status"] == stats.FAILED or row["exact"]:
            out.append(row)
            continue
        needed = row["seeds_needed"]
        if row["id"] == LINE_ID:
            needed = _line_needs(row, _next_level(row, rows))
        elif isinstance(needed, str) and needed.startswith("never: test-sample floor"):
            needed = _floor_needs(row, _next_level(row, rows))
        if needed == row["seeds_needed"]:
            out.append(row)
            continue
        where = row["why"].split("; ")[0]  # `verdicts._why`: "<where>; <what it would take>"
        out.append({**row, "seeds_needed": needed, "why": f"{where}; {needed}"})
    return out


def decide_claims(
    raw: dict,
    comparisons: Sequence[Comparison] = COMPARISONS,
    margins: dict[str, Margin] = MARGINS,
    span: SpanRule = SPAN_RULE,
) -> list[dict]:
    """Every claim's row with its raw verdict and precondition: F0, then each comparison on
    its own interval (no claim's margin or precondition reads another's result)."""
    return [
        decide_line(raw, margins, span),
        *(decide_comparison(raw, c, margins, span) for c in comparisons),
    ]


def headline(rows: Sequence[dict]) -> str:
    """The paper's verdict (only the distribution matters) read off the cause rows."""
    verdicts = {r["id"]: r["verdict"] for r in rows}
    same = [c.claim_id for c in COMPARISONS if c.kind == "equivalent" and c.claim_id in verdicts]
    text = ", ".join(f"{k} {verdicts[k]}" for k in [DISTRIBUTION, *same] if k in verdicts)
    return f"only the distribution matters (F2 held, F1/F3/F4/F5 equivalent): {text}"
