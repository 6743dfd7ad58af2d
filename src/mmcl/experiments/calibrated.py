"""The calibrated `shapes` world and budget, and gate (b): the core feature is learnable in it.

The world's geometry (`data.worlds.render`) and the budget (`BUDGET`, committed as
configs/calibrated/budget.yaml) were chosen from the gate only, before any method comparison,
and are frozen: a supervised model on the uncorrelated world (spurious_strength = 1 / #classes,
so the background says nothing about the class) must reach `LEARNABLE_ACCURACY` on `id`, as the
mean of `GATE_SEEDS`, within the budget every demo arm gets.
With a smaller budget or smaller shapes the gate fails and the demo's question has no answer:
a method that "ignores the shortcut" would have nothing else to learn.

The papers' image experiments run the same gate at their own budget (`learnability_gate` with
their overrides) and list it among their checks (`gate_check`); a world of their own (MCL's grey
canvas) gates every attribute it probes, each made the label in turn (`data.shapes.label`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmcl import stats
from mmcl.data.worlds import WORLDS, render
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.experiments.sweep import run_sweep
from mmcl.io import atomic_write_text
from mmcl.stats import INCONCLUSIVE, NOT_CHECKED, Check, Precondition

# A regime answers a question about a feature only where the supervised arm learns that feature
# there (issue 27): the lower end of the 95% interval over seeds of its linear probe for the
# feature on `balanced` (every attribute independent of the class) above 3x chance. Fixed before
# any comparison; it never reads the compared arms' difference.
LEARNED_TIMES_CHANCE = 3.0
GATE_SEEDS = (0, 1, 2)
UNCORRELATED = 1.0 / len(render.SHAPES)


@dataclass(frozen=True)
class WorldGate:
    """Gate (b) of one world: the accuracy on `id` that a supervised model on its uncorrelated
    version reaches (mean of `GATE_SEEDS`), what moves the calibrated budget to that world's
    gate run, and where the bar comes from."""

    accuracy: float
    overrides: tuple[str, ...] = ()
    anchor: str = ""


# What every run of the demo (and the gate) trains with, fixed before any comparison, and each
# world's gate; the measurements that chose them are in configs/calibrated/budget.yaml.
_GRID = read_grid(grid_path("calibrated", "budget.yaml"), ("budget", "gates"))
BUDGET = _GRID.strings("budget")
WORLD_GATES = _GRID.table(WorldGate, "gates", names=WORLDS.names(), kind="world")
LEARNABLE_ACCURACY = WORLD_GATES["shapes"].accuracy
GATE_EVAL = ("method.name=supervised", "eval.tasks=[classifier]", "eval.splits=[id]")
# Overrides of a paper's runs that do not reach the gate's supervised model (its own method and
# evaluation replace them).
NOT_GATED = ("method.", "eval.")


def supervised_learns(
    attribute: str,
    probes: Sequence[float],
    test_se: Sequence[float] | None,
    *,
    chance: float,
    test: str,
) -> dict[str, str]:
    """The precondition of a claim about `attribute` in one regime: the supervised arm's probe
    for it on `balanced` (one value per seed, with its test-sample errors) lies above
    `LEARNED_TIMES_CHANCE` x `chance`, judged on the lower end of its 95% interval.

    Returns the claim row's `precondition` field (`stats.Precondition.result`).
    """
    bar = LEARNED_TIMES_CHANCE * chance
    rule = Precondition(
        f"the supervised arm learns the {attribute} here: its linear {attribute} probe on "
        f"`balanced` lies above {bar:.0%} ({LEARNED_TIMES_CHANCE:g}x chance, {chance:.0%}), "
        "the lower end of its 95% interval over seeds"
    )
    met, est = stats.lower_end_above(probes, test_se, bar, test=test)
    seeds = ", ".join(f"{p:.0%}" for p in probes)
    low, high = ("?" if v is None else f"{v:.1%}" for v in est.interval)
    return rule.result(
        met, f"supervised {attribute} probe {est.mean:.1%} [{low}, {high}]; seeds {seeds}"
    )


def write_base_config(out_dir: Path) -> Path:
    """An empty YAML every calibrated run starts from (the budget comes as overrides)."""
    path = out_dir / "base.yaml"
    if not path.is_file():
        atomic_write_text(path, "# runs are RunConfig defaults + mmcl.experiments.calibrated\n")
    return path


def world_of(overrides: Sequence[str]) -> str:
    """The world a list of overrides trains on (the last `data.world=`; shapes by default)."""
    named = [o.split("=", 1)[1] for o in overrides if o.startswith("data.world=")]
    return named[-1] if named else "shapes"


def label_override(overrides: Sequence[str], attribute: str) -> list[str]:
    """What makes `attribute` the label: nothing for the world's own class; else the world's
    `label` knob (`data.shapes.label` on shapes, `data.world_options.label` on the others)."""
    world = world_of(overrides)
    if world == "shapes":
        return [f"data.shapes.label={attribute}"]
    return [] if attribute == WORLDS.get(world).noun else [f"data.world_options.label={attribute}"]


def gate_overrides(overrides: Sequence[str], attribute: str) -> list[str]:
    """A budget's overrides turned into the gate's run: supervised on `attribute`, uncorrelated."""
    kept = [o for o in overrides if not o.startswith(NOT_GATED)]
    return [*kept, *GATE_EVAL, f"data.shapes.spurious_strength={UNCORRELATED}",
            *label_override(kept, attribute)]  # fmt: skip


def learnability_gate(
    out_dir: str | Path,
    seeds: Sequence[int] = GATE_SEEDS,
    jobs: int = 2,
    budget: Sequence[str] = BUDGET,
    attribute: str | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Train the supervised gate runs (cached by config) and decide: passed when the mean over
    seeds reaches `threshold` on `id` (default: the bar of the budget's world, `WORLD_GATES`).

    `budget`: the world and training overrides of the runs the gate vouches for (the demo's by
    default); `attribute`: what the label is, so that attribute is the only signal it learns
    (default: the world's class, its noun).
    """
    world = world_of(budget)
    attribute = WORLDS.get(world).noun if attribute is None else attribute
    threshold = WORLD_GATES[world].accuracy if threshold is None else threshold
    out_dir = Path(out_dir)
    grid = [f"seeds={','.join(str(s) for s in seeds)}"]
    overrides = gate_overrides(budget, attribute)
    result = run_sweep(write_base_config(out_dir), grid, out_dir, overrides, jobs)
    row = next(r for r in result["rows"] if r["split"] == "id" and r["metric"] == "accuracy")
    return {
        "statement": (
            f"supervised on {attribute} in the uncorrelated {world} world reaches "
            f"{threshold:.0%} on id within the budget (mean of {len(seeds)} seeds)"
        ),
        "attribute": attribute,
        "per_seed": row["per_seed"],
        "mean": row["mean"],
        "interval": row["interval"],
        "threshold": threshold,
        "passed": bool(row["mean"] >= threshold),
        "budget": list(budget),
    }


def gate_check(gate: dict[str, Any]) -> dict[str, Any]:
    """The gate as a row of a paper's checks: the error is how far the mean falls short."""
    low, high = gate["interval"]
    seeds = ", ".join(f"{v:.1%}" for v in gate["per_seed"])
    check = Check(
        f"gate-{gate['attribute']}",
        f"learnability gate: {gate['statement']}",
        0.0,
        f"mean {gate['mean']:.1%} [{low:.1%}, {high:.1%}], seeds {seeds}",
    )
    return check.result(max(0.0, gate["threshold"] - gate["mean"]))


def ungated(claims: list[dict[str, Any]], gates: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`claims` whose precondition is the learnability gate: failed when a gate failed (a world
    whose core feature no model can learn at this budget cannot answer them), so the family step
    (`mmcl.verdicts`) leaves them inconclusive. Pass only the claims that rest on the gated runs,
    before `decide_families`; a claim that already states a precondition keeps it unless a gate
    failed."""
    if not gates:  # no gate ran (e.g. the user's own data): nothing to report as met
        return claims
    failed = [g["attribute"] for g in gates if not g["passed"]]
    names = ", ".join(g["attribute"] for g in gates)
    rule = Precondition(f"learnability gate ({names}): a supervised model learns it at this budget")
    evidence = "; ".join(f"{g['attribute']} {g['mean']:.1%} (bar {g['threshold']:.0%})"
                         for g in gates)  # fmt: skip
    if not failed:
        return [
            c if c["precondition"]["status"] != NOT_CHECKED
            else {**c, "precondition": rule.result(True, evidence)}
            for c in claims
        ]  # fmt: skip
    return [
        {**c, "verdict": INCONCLUSIVE, "raw_verdict": INCONCLUSIVE,
         "precondition": rule.result(False, evidence)}
        for c in claims
    ]  # fmt: skip
