"""`mmcl demo`: where, if anywhere, CLIP's robustness to a spurious background appears.

Four arms, fixed before any run, train on the same images of one world (the calibrated `shapes`
world, or `fashion`'s real photos with `--world fashion`) with the same image tower and budget
(`mmcl.experiments.calibrated`): a supervised classifier, CLIP whose captions name the class
only, CLIP whose captions also name details other than the background
(colour, texture), and CLIP whose captions name those and the background (each detail in half
the captions). The background is the shortcut, so the last two separate "naming more details"
from "naming the shortcut" (Xue et al.'s C5). In training each class sits on its own background
with probability `spurious_strength`; each strength of the curve is scored on
`spurious_reversed`, where the background always belongs to another class.

The default demo spends its minutes only at strengths where the supervised arm learns the class
(`calibrated.supervised_learns`, measured before any comparison: configs/calibrated/demo.yaml);
a strength where it does not answers nothing about robustness to the background, so such
strengths are only in `--full`, and each strength's predictions carry that precondition.

Per arm and seed: accuracy on `id` and `spurious_reversed` (the model's own predictions:
zero-shot for CLIP, its head for the classifier), the drop between them, a linear probe for the
class (the shape; fashion's item) on the balanced split (is it in the features at all?), and
effective robustness:
OOD accuracy above the logit-space line fitted to a small supervised family (the supervised
arm's checkpoints every 100 steps, all seeds: the "testbed" of Taori et al. / Fang et al.).
A curve repeats the runs over several spurious strengths.

Every difference is paired by seed and named only when its 95% interval excludes zero; the
papers' predictions are decided by rules written here, before the run, and as one family
(`mmcl.verdicts`: Holm over every strength's predictions). Every seed is scored on the same
rendered test images (the world's seed is fixed; `train.seed` varies), so intervals use the
shared-test-set design, and two arms' accuracies on those images differ by the paired
per-sample error (records keep which samples were right).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmcl import stats, verdicts
from mmcl.data.worlds import WORLDS, World, get_world
from mmcl.eval.robustness import fit_line
from mmcl.eval.tasks import CORRECT_KEY, read_results, unpack_correct
from mmcl.experiments.calibrated import (
    BUDGET,
    learnability_gate,
    supervised_learns,
    ungated,
    write_base_config,
)
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.experiments.sweep import Axis, SweepRun, is_done, plan, train_and_evaluate
from mmcl.io import atomic_write_text
from mmcl.report.training_curves import PANELS
from mmcl.runs.executors import map_runs
from mmcl.runs.scoring import evaluate_checkpoints
from mmcl.threads import torch_threads
from mmcl.train.metrics_log import read_metrics

log = logging.getLogger(__name__)

SHIFT = "spurious_reversed"
TESTBED = "testbed.json"
ER_TRANSFORM = "logit"


@dataclass(frozen=True)
class Arm:
    """One method of the comparison: its name, what it is, and how its runs differ."""

    name: str
    description: str
    overrides: tuple[str, ...]
    task: str  # the task whose accuracy is the arm's own prediction


ARMS: tuple[Arm, ...] = (
    Arm(
        "clip_rich",
        "CLIP; captions name the class and each detail (background, colour, and texture where "
        "the world has one) in half of them",
        (
            "method.name=clip",
            "data.shapes.caption_preset=rich",
            "data.shapes.caption_mention=0.5",
            "eval.tasks=[zeroshot,attributes]",
        ),
        "zeroshot",
    ),
    Arm(
        "clip_details",
        "CLIP; captions name the class and details other than the background (colour, and "
        "texture where the world has one), each in half of them: richer captions that never "
        "name the shortcut",
        (
            "method.name=clip",
            "data.shapes.caption_preset=details",
            "data.shapes.caption_mention=0.5",
            "eval.tasks=[zeroshot,attributes]",
        ),
        "zeroshot",
    ),
    Arm(
        "clip_label",
        "CLIP; captions name the class only",
        (
            "method.name=clip",
            "data.shapes.caption_preset=label",
            "eval.tasks=[zeroshot,attributes]",
        ),
        "zeroshot",
    ),
    Arm(
        "supervised",
        "cross-entropy on the class labels; its checkpoints every 100 steps are the testbed",
        (
            "method.name=supervised",
            "eval.tasks=[classifier,attributes]",
            "train.checkpoint_every=100",
            "train.keep_checkpoints=5",
        ),
        "classifier",
    ),
)
ARM_NAMES = tuple(arm.name for arm in ARMS)
EVAL = ("eval.splits=[id,spurious_reversed]", "eval.attribute_split=balanced")
CLIP_CHECKPOINTS = ("train.checkpoint_every=1000", "train.keep_checkpoints=1")  # the end only


@dataclass(frozen=True)
class DemoScale:
    """Seeds and the spurious strengths of the curve (the headline strength among them)."""

    seeds: tuple[int, ...]
    strengths: tuple[float, ...]


# Per world, quick: the strengths where the supervised arm learns the class (measured, see the
# YAML); full: the whole curve.
DEMO_WORLDS = ("shapes", "fashion")
_GRID = read_grid(grid_path("calibrated", "demo.yaml"), DEMO_WORLDS)
SCALES = {world: _GRID.table(DemoScale, world, names=("quick", "full")) for world in DEMO_WORLDS}

# The papers' predictions, as rules fixed before the run (figures are ours; the directions are
# the papers'). Accuracy differences are fractions: 0.02 is 2 points.
NON_INFERIORITY = 0.02
EQUIVALENCE = 0.03
RICH_REASON = "Xue et al. state a direction only, so any gain counts"
NON_INFERIORITY_REASON = "2 points: about one binomial error of a 1,000-image split at 50%"
EQUIVALENCE_REASON = (
    "3 points of effective robustness: Fang et al.'s same-data pairs differ by about that; "
    "the distribution effect they compare it with is several times larger"
)
CLAIMS = (
    (
        stats.Claim(
            "xue_rich_over_label",
            "Captions that name details make CLIP more robust than label-only captions",
            "Xue et al. 2024: rich captions > label-only (stated direction)",
            f"{SHIFT} accuracy, clip_rich - clip_label",
            stats.Greater(0.0, reason=RICH_REASON),
            family="demo",
        ),
        ("clip_rich", "clip_label", SHIFT),
    ),
    (
        stats.Claim(
            "xue_details_over_label",
            "Captions that name details other than the shortcut (colour, texture) make CLIP more "
            "robust than label-only captions",
            "Xue et al. 2024: rich captions > label-only; which kind of detail helps is not "
            "reported (C5)",
            f"{SHIFT} accuracy, clip_details - clip_label",
            stats.Greater(0.0, reason=RICH_REASON),
            family="demo",
        ),
        ("clip_details", "clip_label", SHIFT),
    ),
    (
        stats.Claim(
            "xue_label_not_below_supervised",
            "CLIP with label-only captions is at least as robust as the supervised model",
            "Xue et al. 2024: label-only CLIP >= supervised (stated direction)",
            f"{SHIFT} accuracy, clip_label - supervised (non-inferiority, 2-point margin)",
            stats.Greater(-NON_INFERIORITY, reason=NON_INFERIORITY_REASON),
            family="demo",
        ),
        ("clip_label", "supervised", SHIFT),
    ),
    (
        stats.Claim(
            "fang_same_data_same_er",
            "On the same images, the loss and language (CLIP vs supervised) barely change "
            "effective robustness",
            "Fang et al. 2022: data, not the loss or language, determine robustness",
            "effective robustness, clip_label - supervised (equivalence, 3-point margin)",
            stats.Equivalent(EQUIVALENCE, reason=EQUIVALENCE_REASON),
            family="demo",
        ),
        ("clip_label", "supervised", "effective_robustness"),
    ),
)
METRICS = ("id", SHIFT, "drop", "class_probe", "effective_robustness")


def world_overrides(world: str) -> tuple[str, ...]:
    """What moves the calibrated budget to `world`: nothing for shapes (the budget's own world),
    so the shapes demo's configs, and so its cached runs, are exactly as before."""
    return () if world == "shapes" else (f"data.world={world}",)


def _arm_runs(
    arm: Arm, scale: DemoScale, out_dir: Path, extra: Sequence[str], world: str
) -> list[SweepRun]:
    checkpoints = () if arm.name == "supervised" else CLIP_CHECKPOINTS
    axes = [Axis("data.shapes.spurious_strength", scale.strengths)]
    overrides = [*BUDGET, *world_overrides(world), *EVAL, *checkpoints, *arm.overrides, *extra]
    return plan(write_base_config(out_dir), axes, scale.seeds, out_dir, overrides)


def plan_demo(
    scale: DemoScale, out_dir: Path, extra: Sequence[str] = (), world: str = "shapes"
) -> dict[str, list[SweepRun]]:
    """Every run of every arm (validated now, before any training)."""
    return {arm.name: _arm_runs(arm, scale, out_dir, extra, world) for arm in ARMS}


def _strength(run: SweepRun) -> float:
    return float(dict(run.point)["data.shapes.spurious_strength"])


def needs_testbed(arm: str) -> bool:
    return arm == "supervised"


def evaluate_testbed(run: SweepRun) -> None:
    """Score each kept checkpoint of a supervised run on id and the shift: the testbed points."""
    records = evaluate_checkpoints(run.run_dir, tasks=["classifier"])["records"]
    points: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["metric"] == "accuracy":
            point = points.setdefault(r["checkpoint"], {"checkpoint": r["checkpoint"]})
            point[r["split"]] = r["value"]
    atomic_write_text(run.run_dir / TESTBED, json.dumps(list(points.values()), indent=1))


def train_demo_run(run: SweepRun, testbed: bool) -> None:
    """One worker's job: train and score a run; for testbed runs, score its checkpoints too."""
    if not is_done(run):
        train_and_evaluate(run)
    if testbed and not (run.run_dir / TESTBED).is_file():
        with torch_threads(1):
            evaluate_testbed(run)


def train_missing(runs: dict[str, list[SweepRun]], jobs: int) -> int:
    """Train what has no results yet, CLIP first (the longest runs); returns how many trained."""
    calls = [
        (run, needs_testbed(arm))
        for arm, arm_runs in runs.items()
        # seed-major: the two runs that start together need different worlds, so no world is
        # rendered twice at once
        for run in sorted(arm_runs, key=lambda r: (r.seed, _strength(r)))
        if not is_done(run) or (needs_testbed(arm) and not (run.run_dir / TESTBED).is_file())
    ]
    total = sum(len(r) for r in runs.values())
    log.info("demo: %d runs, %d cached, %d to train", total, total - len(calls), len(calls))

    def done(count: int, index: int, _result: None) -> None:
        log.info("demo: %d/%d runs done", count, len(calls))

    map_runs(train_demo_run, calls, jobs, done)
    return len(calls)


def run_world(run: SweepRun) -> tuple[World, Any]:
    """The world a run trained on and its config (`shapes`, `fashion`)."""
    return get_world(run.cfg.data.world_config())


def _records(run: SweepRun, task: str) -> dict[str, dict[str, Any]]:
    """The accuracy record behind each figure of one run: id, the shift and the probe of the
    class attribute (the world's noun: the shape, the item)."""
    noun = run_world(run)[0].noun
    out = {}
    for r in read_results(run.run_dir / "results.json")["records"]:
        if r["metric"] != "accuracy":
            continue
        if r["task"] == task and r["split"] in ("id", SHIFT):
            out[r["split"]] = r
        elif r["task"] == "attributes" and r.get("attribute") == noun:
            out["class_probe"] = r
    return out


def _accuracies(run: SweepRun, task: str) -> dict[str, tuple[float, int]]:
    """(accuracy, n_samples) per figure of one run: id, the shift and the class probe."""
    return {k: (r["value"], r["n_samples"]) for k, r in _records(run, task).items()}


def arm_correct(runs: Sequence[SweepRun], task: str) -> dict[str, list[np.ndarray]] | None:
    """Per split (id, the shift), each seed's per-sample correctness; None for runs scored
    before records kept it (their differences fall back to binomial errors in quadrature)."""
    records = [_records(run, task) for run in runs]
    if not all(CORRECT_KEY in r[split] for r in records for split in ("id", SHIFT)):
        return None
    return {split: [unpack_correct(r[split]) for r in records] for split in ("id", SHIFT)}


def paired_test_se(
    a: dict[str, list[np.ndarray]] | None, b: dict[str, list[np.ndarray]] | None, metric: str
) -> list[float] | None:
    """Per seed, the paired test-sample error of A - B on `metric` (both arms scored on the same
    images); None where it does not apply (the class probe keeps no per-sample correctness).
    Effective robustness treats the testbed line as fixed, as the arms' own figures do, so its
    paired error is the shift accuracy's."""
    if a is None or b is None or metric == "class_probe":
        return None
    splits = {"id": ("id",), SHIFT: (SHIFT,), "effective_robustness": (SHIFT,),
              "drop": ("id", SHIFT)}[metric]  # fmt: skip
    return [
        float(np.sqrt(sum(
            stats.paired_accuracy_se(a[split][s], b[split][s]) ** 2 for split in splits
        )))
        for s in range(len(a["id"]))
    ]  # fmt: skip


def attribute_probes(runs: Sequence[SweepRun]) -> dict[str, dict[str, Any]]:
    """Every attribute's linear probe on the balanced split, over seeds: which features an arm
    keeps (feature suppression), with each attribute's chance level."""
    by_attribute: dict[str, list[tuple[float, int]]] = {}
    for run in runs:
        for r in read_results(run.run_dir / "results.json")["records"]:
            if r["task"] == "attributes" and r["metric"] == "accuracy":
                by_attribute.setdefault(r["attribute"], []).append((r["value"], r["n_samples"]))
    chance = attribute_chance(*run_world(runs[0]))
    return {
        attribute: {
            **_estimate_row([v for v, _ in pairs],
                            [float(stats.accuracy_se(v, n)) for v, n in pairs]),
            "chance": chance.get(attribute),
        }
        for attribute, pairs in by_attribute.items()
        if len(pairs) == len(runs)
    }  # fmt: skip


def attribute_chance(world: World, cfg: Any) -> dict[str, float]:
    """1 / the number of values each attribute takes on `balanced` (the training law's values:
    no held-out colour or background)."""
    return {name: 1.0 / cfg.drawn_values(name) for name in world.attribute_values}


def training_curves(runs: Sequence[SweepRun]) -> list[dict[str, Any]]:
    """Each run's logged scalars that the report draws (`PANELS`) by step, one entry per seed."""
    curves = []
    for run in runs:
        rows = read_metrics(run.run_dir / "metrics.jsonl")
        keys = [k for k in PANELS if any(k in row for row in rows)]
        curves.append(
            {"seed": run.seed, **{k: [row.get(k) for row in rows] for k in ("step", *keys)}}
        )
    return curves


def testbed_line(runs: Sequence[SweepRun]) -> tuple[list[dict[str, Any]], Any]:
    """The testbed's points (every checkpoint of every headline supervised run) and its line."""
    points = []
    for run in runs:
        for point in json.loads((run.run_dir / TESTBED).read_text()):
            points.append({**point, "seed": run.seed})
    x = np.array([p["id"] for p in points])
    y = np.array([p[SHIFT] for p in points])
    usable = (x > 0) & (x < 1) & (y > 0) & (y < 1)  # finite in logit space
    return points, fit_line(x[usable], y[usable], ER_TRANSFORM)


def _estimate_row(values: Sequence[float], test_se: Sequence[float] | None) -> dict[str, Any]:
    est = stats.estimate(values, test_se, test=stats.SHARED)
    return {
        "per_seed": list(values),
        "mean": est.mean,
        "interval": est.interval,
        "test_se": None if test_se is None else [float(s) for s in test_se],
    }


def arm_figures(runs: Sequence[SweepRun], task: str, line: Any) -> dict[str, Any]:
    """Per-seed figures of one arm at one strength, with means and intervals.

    Accuracies carry their binomial test-sample error; effective robustness carries that of the
    OOD accuracy but treats the testbed line as fixed; the drop carries seed variance only.
    """
    acc = [_accuracies(run, task) for run in runs]
    values = {key: [a[key][0] for a in acc] for key in ("id", SHIFT, "class_probe")}
    test_se = {
        key: [float(stats.accuracy_se(a[key][0], a[key][1])) for a in acc]
        for key in ("id", SHIFT, "class_probe")
    }
    figures = {key: _estimate_row(values[key], test_se[key]) for key in values}
    drop = [i - o for i, o in zip(values["id"], values[SHIFT], strict=True)]
    figures["drop"] = _estimate_row(drop, None)
    if line is not None:
        er = [o - float(line.predict(i)) for i, o in zip(values["id"], values[SHIFT], strict=True)]
        figures["effective_robustness"] = _estimate_row(er, test_se[SHIFT])
    return {"seeds": [run.seed for run in runs], **figures}


def difference(
    a: dict[str, Any], b: dict[str, Any], paired_se: Sequence[float] | None = None
) -> stats.Estimate:
    """A - B of one figure, paired by seed, on the shared test images: the paired per-sample
    error where the records keep correctness, else the two errors in quadrature."""
    test_se = paired_se
    if test_se is None and (a["test_se"] is not None or b["test_se"] is not None):
        sa = np.asarray(a["test_se"] if a["test_se"] is not None else 0.0, float)
        sb = np.asarray(b["test_se"] if b["test_se"] is not None else 0.0, float)
        test_se = np.sqrt(sa**2 + sb**2)
    return stats.difference(a["per_seed"], b["per_seed"], test_se, test=stats.SHARED)


Correct = dict[str, dict[str, list[np.ndarray]] | None]


def comparisons(
    headline: dict[str, dict[str, Any]], correct: Correct | None = None
) -> list[dict[str, Any]]:
    """Every pair of arms on every figure but id: the difference and whether it is detected."""
    correct = correct or {}
    rows = []
    for k, a in enumerate(ARM_NAMES):
        for b in ARM_NAMES[k + 1 :]:
            for metric in METRICS[1:]:
                if metric not in headline[a]:
                    continue
                paired = paired_test_se(correct.get(a), correct.get(b), metric)
                est = difference(headline[a][metric], headline[b][metric], paired)
                detected = est.low is not None and (est.low > 0 or est.high < 0)
                rows.append(
                    {
                        "a": a,
                        "b": b,
                        "metric": metric,
                        "difference": est.mean,
                        "interval": est.interval,
                        "detected": bool(detected),
                    }
                )
    return rows


def summary_sentences(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per figure: the detected differences, or that none was detected."""
    sentences = []
    for metric in METRICS[1:]:
        found = [r for r in rows if r["metric"] == metric and r["detected"]]
        if not found:
            sentences.append(f"{metric}: no difference detected at this scale.")
            continue
        parts = []
        for r in found:
            high, low = (r["a"], r["b"]) if r["difference"] > 0 else (r["b"], r["a"])
            lo, hi = sorted(abs(v) for v in r["interval"])
            parts.append(
                f"{high} > {low} by {100 * abs(r['difference']):.1f} points "
                f"[{100 * lo:.1f}, {100 * hi:.1f}]"
            )
        sentences.append(f"{metric}: " + "; ".join(parts) + ".")
    return sentences


def class_learned(figures: dict[str, dict[str, Any]], world: World) -> dict[str, str]:
    """The predictions' precondition at one strength: the supervised arm learns the class (the
    world's noun: the shape, the item) there (`calibrated.supervised_learns` on its class
    probe, every seed on the same images). Where it does not, the class is not learnable from
    these images at this budget and a comparison of robustness to the background answers
    nothing. It reads no compared arm."""
    probe = figures["supervised"]["class_probe"]
    chance = 1.0 / len(world.attribute_values[world.noun])
    return supervised_learns(
        world.noun, probe["per_seed"], probe["test_se"], chance=chance, test=stats.SHARED
    )


def decide_claims(
    figures: dict[str, dict[str, Any]],
    precondition: dict[str, str],
    correct: Correct | None = None,
    strength: float | None = None,
) -> list[dict[str, Any]]:
    """The papers' predictions at one strength, each decided by its rule (raw verdicts; the
    family step runs over every strength in `run_demo`); a failed `precondition`
    (`class_learned`) leaves them inconclusive, "not answerable here"."""
    correct = correct or {}
    rows = []
    for claim, (a, b, metric) in CLAIMS:
        paired = paired_test_se(correct.get(a), correct.get(b), metric)
        est = difference(figures[a][metric], figures[b][metric], paired)
        row = claim.decide(est, precondition=precondition)
        rows.append({**row, "strength": strength})
    return rows


def at_strength(
    runs: dict[str, list[SweepRun]], strength: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Correct]:
    """The testbed, every arm's figures and its per-sample correctness at one strength."""
    picked = {
        arm: [r for r in arm_runs if _strength(r) == strength] for arm, arm_runs in runs.items()
    }
    points, line = testbed_line(picked["supervised"])
    tasks = {arm.name: arm.task for arm in ARMS}
    figures = {arm: arm_figures(picked[arm], tasks[arm], line) for arm in ARM_NAMES}
    correct = {arm: arm_correct(picked[arm], tasks[arm]) for arm in ARM_NAMES}
    for arm in ARM_NAMES:
        figures[arm]["attributes"] = attribute_probes(picked[arm])
        figures[arm]["training"] = training_curves(picked[arm])
    testbed = {
        "points": points,
        "line": {
            "transform": line.transform,
            "slope": line.slope,
            "intercept": line.intercept,
            "r": line.r,
            "n": line.n,
        },
    }
    return testbed, figures, correct


def strength_result(runs: dict[str, list[SweepRun]], strength: float) -> dict[str, Any]:
    """Figures, comparisons, summary and the decided predictions at one spurious strength."""
    testbed, figures, correct = at_strength(runs, strength)
    world = run_world(runs["supervised"][0])[0]
    precondition = class_learned(figures, world)
    learned = precondition["status"] == stats.MET
    rows = comparisons(figures, correct)
    summary = summary_sentences(rows)
    if not learned:
        summary.insert(
            0,
            f"At strength {strength:g} the supervised arm did not surely learn the {world.noun} "
            f"({precondition['evidence']}): the papers' predictions are not answerable here, "
            "and a difference below says little about robustness.",
        )
    return {
        "strength": strength,
        "class_learned": learned,
        "precondition": precondition,
        "arms": figures,
        "testbed": testbed,
        "comparisons": rows,
        "summary": summary,
        "claims": decide_claims(figures, precondition, correct, strength),
    }


def budget_gate(out_dir: Path, world: str, extra: Sequence[str], jobs: int) -> dict[str, Any]:
    """Gate (b) at the demo's budget on its world (`calibrated.learnability_gate`, 3 supervised
    runs on the uncorrelated world, cached under OUT/gate): the budget must let a supervised
    model reach the world's bar, or no prediction is answerable. On shapes the budget was chosen
    by this gate; on another world it is measured, never tuned."""
    budget = [*BUDGET, *world_overrides(world), *extra]
    return learnability_gate(out_dir / "gate", budget=budget, jobs=jobs)


def run_demo(
    scale: str | DemoScale,
    out_dir: str | Path,
    jobs: int = 2,
    extra: Sequence[str] = (),
    world: str = "shapes",
) -> dict[str, Any]:
    """Train what is missing (cached by config hash), then measure; writes OUT/demo.json.

    world: `shapes` (the calibrated world) or `fashion` (real photos, the same budget, its own
    strengths: `SCALES`). `extra` overrides go after the calibrated budget: for tests of the
    machinery only (a smaller budget voids the learnability gate, and the demo's CLI offers no
    way to pass them).
    """
    out_dir = Path(out_dir)
    scale_name = scale if isinstance(scale, str) else "custom"
    scale = SCALES[world][scale] if isinstance(scale, str) else scale
    runs = plan_demo(scale, out_dir, extra, world)
    trained = train_missing(runs, jobs)
    gate = budget_gate(out_dir, world, extra, jobs)
    by_strength = [strength_result(runs, s) for s in scale.strengths]
    for r in by_strength:  # a budget under the world's gate answers no prediction
        r["claims"] = ungated(r["claims"], [gate])
    decided = iter(verdicts.decide_families([c for r in by_strength for c in r["claims"]]))
    for r in by_strength:  # one family over every strength: Holm across all the predictions
        r["claims"] = [next(decided) for _ in r["claims"]]
    result = {
        "scale": scale_name,
        "world": world,
        "noun": WORLDS.get(world).noun,
        "seeds": list(scale.seeds),
        "strengths": list(scale.strengths),
        "shift": SHIFT,
        "budget": [*BUDGET, *world_overrides(world)],
        "trained_now": trained,
        "gate": gate,
        "arms": {arm.name: {"description": arm.description, "task": arm.task} for arm in ARMS},
        "runs": {arm: [str(run.run_dir) for run in arm_runs] for arm, arm_runs in runs.items()},
        "by_strength": by_strength,
        "curve": {
            arm: [
                {"strength": r["strength"], **{m: r["arms"][arm][m] for m in METRICS}}
                for r in by_strength
            ]
            for arm in ARM_NAMES
        },
    }
    atomic_write_text(out_dir / "demo.json", json.dumps(result, indent=1))
    return result
