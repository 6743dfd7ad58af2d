"""The package's import graph: imports point down the layers of DESIGN.md, and no module
imports one that imports it back.

Layers, bottom to top: the foundations (errors, config, registry, stats, distributed, ...);
data, models, losses and theory; methods; eval (scores a model; it needs no trainer); train
(the loop, which may score as it trains); runs (the one door: train, cache, score); report;
experiments; cli. Imports inside functions count: they are deferred, not absent. There is no
list of allowed exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmcl

PACKAGE_ROOT = Path(mmcl.__file__).parent
TOP_LAYERS = ("mmcl.experiments", "mmcl.cli")
LAYERS = {
    "data": 1,
    "models": 1,
    "losses": 1,
    "theory": 1,
    "methods": 2,
    "eval": 3,
    "train": 4,
    "runs": 5,
    "report": 6,
    "experiments": 7,
    "cli": 8,
    "__main__": 8,
}  # fmt: skip  (any other top-level module is a foundation, layer 0; `python -m mmcl` is the CLI)


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, packages named by their folder."""
    modules = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        parts = ["mmcl", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_names(name: str, path: Path) -> set[str]:
    """Every mmcl name `name` imports, relative imports resolved, at any depth of the file."""
    names = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "mmcl" or n.startswith("mmcl.")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (a name resolves to its longest module prefix)."""
    modules = module_files()

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph = {}
    for name, path in modules.items():
        targets = {resolve(t) for t in imported_names(name, path)}
        graph[name] = {t for t in targets if t and t != name and not name.startswith(f"{t}.")}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_lower_layers_never_import_experiments_or_the_cli():
    graph = import_graph()
    upward = [
        (name, target)
        for name, targets in graph.items()
        if layer(name) < layer("mmcl.experiments")
        for target in targets
        if target.startswith(TOP_LAYERS)
    ]
    assert upward == []


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where a module imports from a layer above its own."""
    return {(name, t) for name, targets in graph.items() for t in targets if layer(t) > layer(name)}


def test_imports_point_down_the_layers():
    assert upward_imports(import_graph()) == set()


def test_an_upward_import_is_caught():
    graph = {
        "mmcl.data.sources": {"mmcl.runs.training", "mmcl.errors"},
        "mmcl.runs.scoring": {"mmcl.data"},
    }
    assert upward_imports(graph) == {("mmcl.data.sources", "mmcl.runs.training")}


def cyclic_modules(graph: dict[str, set[str]]) -> list[str]:
    """Modules that reach themselves through their imports."""
    return sorted(name for name in graph if name in reachable(graph, name))


def test_no_module_imports_one_that_imports_it_back():
    assert cyclic_modules(import_graph()) == []


def test_a_cycle_introduced_on_purpose_is_caught():
    graph = import_graph()
    assert "mmcl.errors" in graph["mmcl.config"]
    graph["mmcl.errors"] = graph["mmcl.errors"] | {"mmcl.config"}  # errors -> config -> errors
    assert {"mmcl.config", "mmcl.errors"} <= set(cyclic_modules(graph))


def test_the_graph_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from mmcl.stats import estimate\n    from . import io\n")
    assert imported_names("mmcl.m", source) == {
        "mmcl.stats",
        "mmcl.stats.estimate",
        "mmcl",
        "mmcl.io",
    }
