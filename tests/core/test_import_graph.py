"""The import graph of ``core``: the training modules form no import circle.

Every import counts, wherever it sits: at the top of a module, inside a function (the usual
way to dodge a circle at import time, which leaves the circle in the design) and under
``if TYPE_CHECKING:``. The graph is read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"

TRAINING = {"core.training", "core.train_model", "core.training_data", "core.train_config",
            "core.precision", "core.adapters", "core.throughput", "core.config_files",
            "core.runs", "core.run_worker", "core.run_data", "core.task_versions"}

# Edges allowed for now, each with why and when it goes. Delete an entry with its import.
ALLOWED: dict[tuple[str, str], str] = {}


def imported_modules(path: Path) -> set[str]:
    """The ``core.*`` modules a source file imports, at any depth of its syntax tree."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "core":  # from core import training
                found |= {f"core.{alias.name}" for alias in node.names}
            elif node.module.startswith("core."):
                found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:  # from .x import y
            found |= {f"core.{node.module}"} if node.module else \
                {f"core.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("core.")}
    return found


def core_graph() -> dict[str, set[str]]:
    """module -> the core modules it imports (only modules that exist; no self-loops)."""
    modules = {f"core.{p.stem}": p for p in CORE.glob("*.py") if p.stem != "__init__"}
    return {name: {m for m in imported_modules(path) if m in modules and m != name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _without_allowed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {a: {b for b in targets if (a, b) not in ALLOWED} for a, targets in graph.items()}


def test_the_graph_reader_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nimport core.a\nfrom core import b\n"
                      "from core.c import thing\nif TYPE_CHECKING:\n    from core.d import T\n"
                      "from .h import k\n"
                      "def f():\n    from core.e import g\n    import os\n")
    assert imported_modules(source) == {"core.a", "core.b", "core.c", "core.d", "core.e",
                                       "core.h"}


def test_cycles_finds_a_circle_through_three_modules_and_nothing_in_a_tree():
    circle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(circle) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_training_modules_form_no_import_circle():
    graph = _without_allowed(core_graph())
    assert TRAINING <= set(graph), "a training module was renamed: update TRAINING"
    tangled = [c for c in cycles(graph) if TRAINING & set(c)]
    assert tangled == [], (
        f"import circle(s) through the training modules: {tangled}. Move the shared piece "
        "down a layer (a function-level import does not break a circle).")


def test_the_config_layer_sits_below_the_data_and_model_layers():
    """train_config is what the page, the CLI and a run folder share: it imports no module
    that reads data, builds a model or trains (only the allowed shim, named above)."""
    graph = core_graph()
    above = {"core.training", "core.train_model", "core.training_data", "core.runs"}
    leaks = {m for m in graph["core.train_config"] & above
             if ("core.train_config", m) not in ALLOWED}
    assert leaks == set()


def test_every_allowed_edge_still_exists():
    """An entry left behind after its import went would hide the next circle there."""
    graph = core_graph()
    stale = [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set())]
    assert stale == [], f"delete these entries of ALLOWED: {stale}"


if __name__ == "__main__":  # every circle in core, for whoever owns it
    for component in cycles(core_graph()):
        print(" <-> ".join(component))
