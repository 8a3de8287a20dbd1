"""A user's function (a builder, a lambda) written out as standalone source for a script.

An adapter's store is built by the user's own code: the script should build it the same way,
with the integration's API and nothing of umi-dst. The function's source is read from its
module, its annotations dropped (they name umi-dst's types), and every global it reads comes
along: an import of the module's (the same line), a literal constant (its value, even one
imported from umi-dst), or another function of the module (written out too). Anything else it
needs from umi-dst makes it ``NotStandalone``.
"""

from __future__ import annotations

import ast
import builtins
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from umi_dst.export.calls import ExportError

_OWN_PACKAGES = ("umi_dst", "backends")
_LITERALS = (str, int, float, bool, type(None))
_NO_TYPES = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
"""Python 3.12 added type parameters to a ``def``; an empty list where the field exists."""


class NotStandalone(ExportError):
    """The function needs umi-dst's own code (or source Python cannot show): a script without
    umi-dst cannot do what it does."""


@dataclass
class Standalone:
    """What a script needs to define some functions: imports, constants, then the functions."""

    imports: set[str] = field(default_factory=set)
    constants: dict[str, str] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)

    def add(self, function: Callable, name: str) -> str:
        """Write ``function`` out (as ``def name`` if it is a lambda); the name to call it by."""
        module = inspect.getmodule(function)
        try:
            tree = ast.parse(inspect.getsource(module))
        except (OSError, TypeError):  # no module, or no source file (an interactive session)
            raise NotStandalone(f"the source of {function!r} cannot be read") from None
        node = _definition(tree, function)
        if isinstance(node, ast.Lambda):
            node = ast.FunctionDef(
                name=name, args=node.args, body=[ast.Return(node.body)], decorator_list=[], **_NO_TYPES
            )
        else:
            name = node.name
        if name in self.functions:
            return name
        node = _without_annotations(node)
        self.functions[name] = []  # reserved first, so a recursive helper stops here
        for free in sorted(_free_names(node)):
            self._bring(free, tree, function.__globals__, module.__name__)
        self.functions[name] = ["", "", *ast.unparse(ast.fix_missing_locations(node)).splitlines()]
        return name

    def _bring(self, name: str, tree: ast.Module, namespace: dict, module: str) -> None:
        if name not in namespace:
            if hasattr(builtins, name):
                return
            raise NotStandalone(f"{module} defines no {name!r} for its builder to read")
        value = namespace[name]
        imported = _import_of(tree, name)
        if isinstance(value, _LITERALS) and (imported is None or _is_own(imported)):
            self.constants[name] = f"{name} = {value!r}"
        elif imported is not None and not _is_own(imported):
            self.imports.add(imported)
        elif imported is None and inspect.isfunction(value) and value.__module__ == module:
            self.add(value, name)
        else:
            raise NotStandalone(
                f"the builder in {module} uses {name!r}, which is umi-dst's own code: "
                "a script without umi-dst cannot build the store the same way"
            )

    def lines(self, leaving_out: set[str] = frozenset()) -> list[str]:
        """The source, without the constants ``leaving_out`` names (the script defines them)."""
        kept = [line for name, line in self.constants.items() if name not in leaving_out]
        constants = ["", "", *kept] if kept else []
        return constants + [line for lines in self.functions.values() for line in lines]


def _definition(tree: ast.Module, function: Callable) -> ast.FunctionDef | ast.Lambda:
    code = function.__code__
    if function.__name__ == "<lambda>":
        found = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Lambda)
            and node.lineno == code.co_firstlineno
            and [a.arg for a in node.args.args] == list(code.co_varnames[: code.co_argcount])
        ]
    else:
        found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function.__name__]
    if len(found) != 1:
        raise NotStandalone(f"cannot find the one definition of {function.__qualname__} in its module's source")
    return found[0]


def _without_annotations(node: ast.FunctionDef) -> ast.FunctionDef:
    node.returns = None
    for argument in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
        argument.annotation = None
    return node


def _free_names(node: ast.FunctionDef) -> set[str]:
    """Globals the function reads: names loaded but never bound inside it."""
    bound = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    bound |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - bound


def _import_of(tree: ast.Module, name: str) -> str | None:
    """The module's own import line for ``name`` alone, or None if no import binds it."""
    for statement in tree.body:
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        for alias in statement.names:
            if (alias.asname or alias.name.partition(".")[0]) != name:
                continue
            written = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            if isinstance(statement, ast.Import):
                return f"import {written}"
            if statement.level:
                raise NotStandalone(f"{name!r} comes from a relative import, which a script cannot repeat")
            return f"from {statement.module} import {written}"
    return None


def _is_own(line: str) -> bool:
    module = line.split()[1]
    return module.partition(".")[0] in _OWN_PACKAGES
