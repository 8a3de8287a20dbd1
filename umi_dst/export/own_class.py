"""Export for a backend with no renderer of its own: calls of its own factory and backend classes.

The script imports the user's builder (``module:attribute``), builds a factory on the run's
working directory and calls the contract methods on connections from ``factory.open()``; a
real fault is the factory's own nemesis, run as the harness runs it: struck at the seed's crash
point, or disturbing the write if the step has none.
"""

from __future__ import annotations

from umi_dst.export.calls import ExportCall, Rendered
from umi_dst.operations import CrashPoint

_RESULTS = {"search": "[(r.id, r.score) for r in {call}]"}


class OwnClassCalls:
    requirements: tuple[str, ...]

    def __init__(self, dim: int, target: str) -> None:
        self.dim = dim
        self.module, _, self.attribute = target.partition(":")
        self.requirements = (f"{self.module} (the backend under test)", "numpy")
        self._faults = False
        self._placed = False

    def imports(self) -> list[str]:
        lines = ["from pathlib import Path", f"from {self.module} import {self.attribute}"]
        lines += ["from umi_dst.contract import WriteCall"] if self._faults else []
        return lines + (["from umi_dst.operations import CrashPoint"] if self._placed else [])

    def helpers(self) -> list[str]:
        return []

    def before_runs(self) -> list[str]:
        return []

    def versions(self) -> str:
        return '"python", sys.version.split()[0], "numpy", np.__version__'

    def open_store(self) -> list[str]:
        return [f"store = {self.attribute}(Path(workdir), DIM)", "backend = store.open()"]

    def connect(self, shared: bool = False) -> list[str]:
        return ["backend = store.open()"]

    def call(self, call: ExportCall, result: str | None) -> list[str]:
        args = ", ".join(self._arg(call, i) for i in range(len(call.args)))
        invocation = f"backend.{call.method}({args})"
        if result is None:
            return [invocation]
        return [f"{result} = {_RESULTS.get(call.method, '{call}').format(call=invocation)}"]

    def _arg(self, call: ExportCall, index: int) -> str:
        if call.method == "store_batch":
            items = call.args[0]
            ids = ", ".join(ascii(id) for id, _ in items)
            return f"list(zip([{ids}], {call.data.matrix([v for _, v in items])}))" if items else "[]"
        return call.arg(index)

    def fault(self, name: str, call: ExportCall, step: int, at: CrashPoint | None) -> Rendered:
        """The factory's nemesis, as the harness runs it: struck at the seed's point (the one
        state it expects there checked), or its timed form for a step without a point."""
        self._faults = True
        args = ", ".join(self._arg(call, i) for i in range(len(call.args)))
        write = f"WriteCall({call.method!r}, ({args},))"
        run = f"nemesis.disturb(backend, {write})"
        if at is not None:
            self._placed = True
            run = f"nemesis.strike(backend, {write}, CrashPoint({at.point!r}, {at.k}))"
        body = [
            f"nemesis = store.nemeses[{name!r}]",
            "try:",
            f"    {run}",
            "    acknowledged = True",
            "except Exception as error:",
            f"    print('the write raised under {name}:', repr(error))",
            "    acknowledged = False",
            "nemesis.heal()",
        ]
        if at is None:
            return Rendered([], body)
        return Rendered([], body, expected=f"nemesis.expected(CrashPoint({at.point!r}, {at.k}))", timed=False)
