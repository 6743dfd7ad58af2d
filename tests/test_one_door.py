"""Every training goes through one door (`mmcl.runs.door`): no module outside it builds a
`Trainer` or calls the training entry point, and no experiment sends work to processes by hand.

Read from the source (the AST), so a new module that trains its own way fails here at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmcl

PACKAGE_ROOT = Path(mmcl.__file__).parent
# Who may build a Trainer: the one-stage entry point and the stage driver it hands MCL to.
TRAINER_BUILDERS = {"runs/training.py", "train/stages.py"}
# Who may call the training entry point (`mmcl.runs.training.train`): the door alone.
TRAIN_CALLERS = {"runs/door.py"}
# Who may use the local process pool directly: the executors that wrap it.
POOL_USERS = {"runs/executors/local.py"}


def _sources() -> dict[str, ast.AST]:
    return {
        str(path.relative_to(PACKAGE_ROOT)): ast.parse(path.read_text(), str(path))
        for path in PACKAGE_ROOT.rglob("*.py")
    }


def _imports(tree: ast.AST, module: str, name: str) -> bool:
    """Whether `tree` imports `name` from `module` (or the module itself, under any alias)."""
    parent, _, leaf = module.rpartition(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            if (node.module == module and name in names) or (
                node.module == parent and leaf in names
            ):
                return True
        if isinstance(node, ast.Import) and any(a.name == module for a in node.names):
            return True
    return False


def _calls(tree: ast.AST, name: str) -> bool:
    """Whether `tree` calls `name(...)` or `something.name(...)`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == name:
                return True
    return False


def trainer_builders(sources: dict[str, ast.AST]) -> set[str]:
    return {
        f
        for f, tree in sources.items()
        if _imports(tree, "mmcl.train.trainer", "Trainer") and _calls(tree, "Trainer")
    }


def train_callers(sources: dict[str, ast.AST]) -> set[str]:
    return {
        f
        for f, tree in sources.items()
        if _imports(tree, "mmcl.runs.training", "train") and _calls(tree, "train")
    }


def pool_users(sources: dict[str, ast.AST]) -> set[str]:
    return {
        f for f, tree in sources.items() if _imports(tree, "mmcl.processes", "map_in_processes")
    }


def test_only_the_door_builds_trainers_and_trains():
    sources = _sources()
    assert trainer_builders(sources) <= TRAINER_BUILDERS
    assert train_callers(sources) <= TRAIN_CALLERS


def test_runs_are_spread_by_the_executors_alone():
    assert pool_users(_sources()) <= POOL_USERS


def test_a_trainer_built_by_hand_is_caught():
    rogue = ast.parse(
        "from mmcl.train.trainer import Trainer\n"
        "from mmcl.runs import training\n"
        "def f(cfg, d, rt):\n    Trainer(cfg, d, rt)\n    training.train(cfg, d)\n"
    )
    sources = {"experiments/rogue.py": rogue}
    assert trainer_builders(sources) == {"experiments/rogue.py"}
    assert train_callers(sources) == {"experiments/rogue.py"}
