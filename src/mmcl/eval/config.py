"""How a run is scored (`eval.*`): which tasks, on which splits, and how often in training."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmcl.config import check_choice, check_range

SHAPES_EVAL_SPLITS = ["id", "spurious_reversed", "sketch", "unseen_colors"]


def eval_task_names() -> list[str]:
    """The registered eval tasks (each task module registers itself as `suite` imports it;
    imported on use, so loading a config does not load every evaluator)."""
    from mmcl.eval.suite import EVAL_TASKS

    return EVAL_TASKS.names()


def probe_backends() -> tuple[str, ...]:
    """The linear probe's solvers (imported on use, like the tasks: it loads torch)."""
    from mmcl.eval.torch_probe import PROBE_BACKENDS

    return PROBE_BACKENDS


@dataclass
class EvalConfig:
    tasks: list[str] = field(
        default_factory=lambda: ["zeroshot", "classifier", "linear_probe", "attributes"]
    )
    splits: list[str] = field(default_factory=lambda: list(SHAPES_EVAL_SPLITS))
    probe_train_size: int = 4000  # train images the probes are fitted on
    # Linear-probe solver, same objective either way: sklearn (CPU lbfgs), torch (L-BFGS on the
    # GPU when there is one, for ImageNet-size sets), auto (torch on a GPU, else sklearn).
    probe_backend: str = "auto"
    attribute_split: str = "balanced"  # attributes independent here; "" probes train -> id
    mmvp_path: str = ""  # local MMVP-VLM folder (Questions.csv + images); "" = world pairs
    mmvp_pairs: int = 15  # world pairs per attribute (MMVP has 15 per pattern)
    after_train: bool = True  # evaluate when training ends
    # Every N steps, score the model's own predictions (zero-shot, or its classifier head) on
    # every split into metrics.jsonl as eval/<task>/<split>: robustness over training. 0: off.
    every: int = 0

    def validate(self) -> None:
        for task in self.tasks:
            check_choice("eval.tasks", task, eval_task_names())
        check_range("eval.probe_train_size", self.probe_train_size, 10)
        check_choice("eval.probe_backend", self.probe_backend, probe_backends())
        check_range("eval.every", self.every, 0)
        check_range("eval.mmvp_pairs", self.mmvp_pairs, 1)
