"""The layout keeps dependencies one way: no module of the project imports a module that imports it back.

A cycle (a backend and its faults, the pytest plugin and the class it collects) makes each
unreadable without the other and breaks as soon as one is imported first from a fresh process.
Every import counts here, including those inside functions and under ``TYPE_CHECKING``: a
deferred import hides a cycle, it does not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backends", "umi_dst")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    frontier = list(graph[start])
    while frontier:
        current = frontier.pop()
        if current not in seen:
            seen.add(current)
            frontier.extend(graph[current])
    return seen


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found)) - {name} for name, path in found.items()}


def test_no_module_is_imported_back():
    graph = import_graph()
    cycles = {
        name: sorted(other for other in graph[name] if name in reachable(graph, other))
        for name in graph
    }
    assert {name: back for name, back in cycles.items() if back} == {}


def test_the_check_sees_a_cycle_hidden_in_a_function(tmp_path):
    first = tmp_path / "first.py"
    second = tmp_path / "second.py"
    first.write_text("import second\n")
    second.write_text("def later():\n    import first\n")
    known = {"first", "second"}
    graph = {"first": imports_of(first, known), "second": imports_of(second, known)}
    assert "first" in reachable(graph, "first")


def test_every_real_backend_is_one_package():
    """Everything about a real backend lives in its own folder; planted bugs are self-test material."""
    loose = sorted(path.name for path in (ROOT / "backends").glob("*.py") if path.name not in {"__init__.py", "sim.py"})
    assert loose == []
    assert {path.name for path in (ROOT / "backends").iterdir() if path.is_dir() and path.name != "__pycache__"} == {
        "lance",
        "postgres",
    }
