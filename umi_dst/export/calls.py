"""The renderer API of ``umi-dst export``: what a backend's ``export_calls`` writes with.

A renderer turns each contract call of a seed into the engine calls it becomes, as lines of
Python source; these are the types it receives and returns, and the helpers for embedding
arguments (ids as exact literals, vectors as rows of one matrix ``V``, bit for bit).
"""

from __future__ import annotations

import ast
import base64
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from umi_dst.contract import WriteCall
from umi_dst.operations import CrashPoint

if TYPE_CHECKING:
    from umi_dst.backends.sim import SimVectorBackend

LITERAL_VALUES = 4096
"""Embedded data up to this many floats is written as literals; more goes in as base64."""


class ExportError(ValueError):
    """A seed that cannot be exported (for example a fault the backend's renderer cannot write)."""


class Code(str):
    """Python source standing for a value only known when the script runs (a loop variable)."""


@dataclass
class Data:
    """The vectors a script embeds, each distinct one once, as rows of ``V``, bit for bit."""

    dim: int
    rows: list[np.ndarray] = field(default_factory=list)
    _index: dict[bytes, int] = field(default_factory=dict)

    def row(self, vector: np.ndarray) -> int:
        vector = np.asarray(vector, dtype=np.float32)
        key = vector.tobytes()
        if key not in self._index:
            self._index[key] = len(self.rows)
            self.rows.append(vector)
        return self._index[key]

    def vector(self, vector: np.ndarray) -> str:
        return f"V[{self.row(vector)}]"

    def matrix(self, vectors: Sequence[np.ndarray]) -> str:
        """Rows of ``V`` as one expression: a slice when they are consecutive."""
        rows = [self.row(v) for v in vectors]
        if rows and rows == list(range(rows[0], rows[0] + len(rows))):
            return f"V[{rows[0]}:{rows[-1] + 1}]"
        return f"V[{rows!r}]"

    def source(self) -> list[str]:
        """``V = ...``: float literals (exact: each is the float32 value in full) or base64."""
        if not self.rows:
            return ["V = np.empty((0, DIM), dtype=np.float32)"]
        matrix = np.stack(self.rows).astype(np.float32)
        if matrix.size <= LITERAL_VALUES:
            lines = ["V = np.array(["]
            lines += [f"    [{', '.join(repr(float(x)) for x in row)}]," for row in matrix]
            return lines + ["], dtype=np.float32)"]
        text = base64.b64encode(matrix.astype("<f4").tobytes()).decode()
        chunks = textwrap.wrap(text, 96)
        return ["V = np.frombuffer(base64.b64decode(", *[f'    "{c}"' for c in chunks], '), "<f4").reshape(-1, DIM)']


def literal(value: object, data: Data) -> str:
    """Python source for an argument: ids as exact ASCII literals, vectors as rows of ``V``."""
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, str):
        return ascii(value)
    if isinstance(value, np.ndarray):
        return data.vector(value)
    return repr(value)


@dataclass
class ExportCall:
    """One contract call to render, with what the renderer may need to know about it.

    ``before`` is the oracle's state before the call (read it, never change it); ``shared``
    says other connections may write at the same time (a racing client, a competitor).
    """

    method: str
    args: tuple
    data: Data
    before: SimVectorBackend
    shared: bool = False

    def arg(self, index: int) -> str:
        return literal(self.args[index], self.data)

    def changed_ids(self) -> list[str]:
        """For a write, the ids it changes (as ``WriteCall.changed_ids``)."""
        return WriteCall(self.method, self.args).changed_ids()


@dataclass
class Rendered:
    """Lines for the module (helper functions) and for the body where the call happens.

    ``expected``: source of an expression for the one state ("old" or "new") the fault leaves
    where it struck, or None where it has none (the nemesis's ``expected``). ``timed``: when the
    fault strikes depends on timing, so the script runs in a loop and reports how often the
    failure showed.
    """

    helpers: list[str]
    body: list[str]
    expected: str | None = None
    timed: bool = True


class BackendCalls(Protocol):
    """What a backend's renderer writes. Every store-level variable is the renderer's own;
    ``open_store`` must leave the picklable handle other connections start from in ``store``.
    Optional: ``close_store()``, lines that end each run in a ``finally`` (drop what the run
    made on a server), and ``arguments``, what the script's command line takes after its name."""

    requirements: tuple[str, ...]
    """Distributions the script needs (for the header and the report)."""

    def imports(self) -> list[str]: ...

    def helpers(self) -> list[str]: ...

    def before_runs(self) -> list[str]: ...

    def versions(self) -> str: ...

    def open_store(self) -> list[str]: ...

    def connect(self, shared: bool = False) -> list[str]: ...

    def call(self, call: ExportCall, result: str | None) -> list[str]: ...

    def fault(self, name: str, call: ExportCall, step: int, at: CrashPoint | None) -> Rendered:
        """The write under the fault ``name``, struck at the seed's crash point ``at`` (None:
        the fault's timed form, as a step without a point runs it)."""
        ...


def indent(lines: Iterable[str], levels: int = 1) -> list[str]:
    """Source lines, indented ``levels`` deeper (blank lines stay blank)."""
    pad = "    " * levels
    return [pad + line if line else line for line in lines]


def embedded(module: ModuleType, **constants: object) -> list[str]:
    """``module``'s definitions as lines for a script to embed, each name in ``constants``
    assigned the given value (as a literal) in place of the module's own.

    Helper code a script needs lives in a real module, so the linter and the tests read it as
    code; its docstring and imports stay behind (the renderer's ``imports`` lists them), and its
    constants come from the backend's own, so that they are defined once.
    """
    source = inspect.getsource(module)
    lines = source.splitlines()
    body = [node for node in ast.parse(source).body if not isinstance(node, ast.Import | ast.ImportFrom)]
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the module's docstring
    assigned = {
        target.id: node
        for node in body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    missing = sorted(set(constants) - set(assigned))
    if missing:
        raise ExportError(f"{module.__name__} assigns no constant {missing[0]!r} to set")
    for name in sorted(constants, key=lambda name: assigned[name].lineno, reverse=True):  # bottom up
        node = assigned[name]
        lines[node.lineno - 1 : node.end_lineno] = [f"{name} = {constants[name]!r}"]
    first = body[0]
    start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", ()))])
    return ["", "", *lines[start - 1 :]]


def renderer_at(target: str) -> Callable[[int], BackendCalls]:
    """An ``export_calls`` named as ``module:attribute``, imported when a seed is exported: a
    backend's module names its renderer without importing the export code, which imports it."""

    def build(dim: int) -> BackendCalls:
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)(dim)

    return build
