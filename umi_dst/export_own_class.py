"""Export for a backend with no renderer of its own: calls of its own factory and backend classes.

The script imports the user's builder (``module:attribute``), builds a factory on the run's
working directory and calls the contract methods on connections from ``factory.open()``; a
real fault is the factory's own nemesis, disturbing the write as the harness does.
"""

from __future__ import annotations

from umi_dst.export import ExportCall, Rendered

_RESULTS = {"search": "[(r.id, r.score) for r in {call}]"}


class OwnClassCalls:
    requirements: tuple[str, ...]

    def __init__(self, dim: int, target: str) -> None:
        self.dim = dim
        self.module, _, self.attribute = target.partition(":")
        self.requirements = (f"{self.module} (the backend under test)", "numpy")
        self._faults = False

    def imports(self) -> list[str]:
        lines = ["from pathlib import Path", f"from {self.module} import {self.attribute}"]
        return lines + (["from umi_dst.contract import WriteCall"] if self._faults else [])

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

    def fault(self, name: str, call: ExportCall, step: int) -> Rendered:
        self._faults = True
        args = ", ".join(self._arg(call, i) for i in range(len(call.args)))
        return Rendered(
            [],
            [
                f"nemesis = store.nemeses[{name!r}]",
                "try:",
                f"    nemesis.disturb(backend, WriteCall({call.method!r}, ({args},)))",
                "    acknowledged = True",
                "except Exception as error:",
                f"    print('the write raised under {name}:', repr(error))",
                "    acknowledged = False",
                "nemesis.heal()",
            ],
        )
