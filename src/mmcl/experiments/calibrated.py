"""The calibrated `shapes` world and budget, and gate (b): the core feature is learnable in it.

The world's geometry (`data.worlds.render`) and the budget below were chosen from the gate only,
before any method comparison, and are frozen: a supervised model on the uncorrelated world
(spurious_strength = 1 / #classes, so the background says nothing about the class) must reach
`LEARNABLE_ACCURACY` on `id`, as the mean of `GATE_SEEDS`, within the budget every demo arm gets.
With a smaller budget or smaller shapes the gate fails and the demo's question has no answer:
a method that "ignores the shortcut" would have nothing else to learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmcl.data.worlds import render
from mmcl.experiments.sweep import run_sweep
from mmcl.io import atomic_write_text

LEARNABLE_ACCURACY = 0.85
GATE_SEEDS = (0, 1, 2)
UNCORRELATED = 1.0 / len(render.SHAPES)

# What every run of the demo (and the gate) trains with, fixed before any comparison. The steps
# are the fewest (in steps of 50) at which the supervised gate's 3-seed interval lay above 85%,
# measured with this very budget: 350 steps 86.0% [82.9, 89.1], 400 steps 87.7% [84.2, 91.2],
# 450 steps 89.5% [86.3, 92.6]. lr 0.005: CLIP fell to 24% zero-shot at 0.01 on the
# uncorrelated world (55% at 0.005) with the first text tower tried.
BUDGET: tuple[str, ...] = (
    "data.world=shapes",
    "data.shapes.image_size=32",
    "data.shapes.n_train=10000",
    "data.shapes.n_test=1000",
    "model.image=small_cnn",
    "model.width=8",
    # The CLIP arms' text tower: 1 layer, 64 wide, 16 tokens (the longest demo caption has 15,
    # so none is cut). Chosen for time only (2 layers cost 20% more per step), by no result.
    "model.text_width=64",
    "model.text_layers=1",
    "model.context_length=16",
    "train.steps=450",
    "train.batch_size=128",
    "train.lr=0.005",
    "train.warmup_steps=50",
    "train.progress=false",
)
GATE_EVAL = ("method.name=supervised", "eval.tasks=[classifier]", "eval.splits=[id]")


def write_base_config(out_dir: Path) -> Path:
    """An empty YAML every calibrated run starts from (the budget comes as overrides)."""
    path = out_dir / "base.yaml"
    if not path.is_file():
        atomic_write_text(path, "# runs are RunConfig defaults + mmcl.experiments.calibrated\n")
    return path


def learnability_gate(
    out_dir: str | Path, seeds: Sequence[int] = GATE_SEEDS, jobs: int = 2
) -> dict[str, Any]:
    """Train the supervised gate runs (cached) and decide: passed when the mean reaches 85%."""
    out_dir = Path(out_dir)
    overrides = [*BUDGET, *GATE_EVAL, f"data.shapes.spurious_strength={UNCORRELATED}"]
    grid = [f"seeds={','.join(str(s) for s in seeds)}"]
    result = run_sweep(write_base_config(out_dir), grid, out_dir, overrides, jobs)
    row = next(r for r in result["rows"] if r["split"] == "id" and r["metric"] == "accuracy")
    return {
        "statement": (
            f"supervised on the uncorrelated world (spurious_strength={UNCORRELATED:g}) reaches "
            f"{LEARNABLE_ACCURACY:.0%} on id within the demo budget (mean of {len(seeds)} seeds)"
        ),
        "per_seed": row["per_seed"],
        "mean": row["mean"],
        "interval": row["interval"],
        "threshold": LEARNABLE_ACCURACY,
        "passed": bool(row["mean"] >= LEARNABLE_ACCURACY),
        "budget": list(BUDGET),
    }
