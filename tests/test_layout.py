"""The layout keeps dependencies one way: no module of the project imports a module that imports it back.

A cycle (a backend and its faults, the pytest plugin and the class it collects) makes each
unreadable without the other and breaks as soon as one is imported first from a fresh process.
Every import counts here, including those inside functions and under ``TYPE_CHECKING``: a
deferred import hides a cycle, it does not remove it.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backends", "umi_dst")


def module_name(path: Path) -> str:
    """The installed name: backends/ installs as umi_dst.backends (pyproject's package-dir)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = ("umi_dst", *parts) if parts[0] == "backends" else parts
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
    cycles = {name: sorted(other for other in graph[name] if name in reachable(graph, other)) for name in graph}
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
        "langchain",
        "mem0",
    }


def test_seed_files_naming_the_former_top_level_backends_package_still_load():
    """Before backends/ installed as umi_dst.backends, seed files named its modules
    ``umi_dst.backends.lance...``; such a spec resolves to the same builder as its new name."""
    from umi_dst import registry

    for old, new in (
        ("umi_dst.backends.sim:factory", "sim"),
        ("umi_dst.backends.lance.upstream:batch_loop", "umi_dst.backends.lance.upstream:batch_loop"),
    ):
        builders = [inspect.unwrap(registry.resolve(spec)) for spec in (old, new)]
        assert builders[0] is builders[1], old
    assert "backends" not in sys.modules, "a legacy spec imported a second, top-level copy of the backends"


def test_the_distribution_lists_every_package_of_the_tree():
    """pyproject lists the packages by hand (backends/ installs under another name), so a new
    sub-package left off the list would be missing from every non-editable install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(init) for package in PACKAGES for init in (ROOT / package).rglob("__init__.py")}
    assert sorted(found ^ listed) == []
