"""Export a seed as a standalone reproduction for the engine's maintainers.

The harness side: the seed's steps run on the oracle to fix every argument and expected
outcome; what never reaches the engine (input rejected by the shared validation, a write failed
before it was sent) and reads that cannot matter are left out; each remaining call goes to the
backend's renderer (``BackendCalls``), which writes the engine calls that call becomes. The
result is one Python script that needs the engine's client library and numpy, nothing of
umi-dst, and ends in an ``assert`` with expected-vs-got messages; a Markdown bug-report
skeleton goes beside it. A failure that depends on timing (a real fault, racing clients) runs
in a loop and reports how often it showed.

A backend opts in by giving its builder an ``export_calls`` attribute, a callable
``(dim) -> BackendCalls``, as the built-in backends do (``calls.renderer_at``); any other
backend is exported as calls of its own factory and backend classes.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import umi_dst
from umi_dst import registry
from umi_dst.backends.sim import SimVectorBackend
from umi_dst.checking.faults import ERROR_AFTER, ERROR_BEFORE
from umi_dst.checking.harness import Harness, describe, evenly_spaced
from umi_dst.contract import DEFAULT_SCORE_ATOL
from umi_dst.export.calls import LITERAL_VALUES, BackendCalls, Code, Data, ExportCall, ExportError, indent
from umi_dst.export.function_source import NotStandalone
from umi_dst.export.own_class import OwnClassCalls
from umi_dst.filter_ops import FILTER_OPERATIONS, FilteredSearch, GetMetadata, from_text
from umi_dst.html.seed_page import page_path
from umi_dst.operations import (
    Abandon,
    Count,
    CrashPoint,
    Exists,
    Get,
    Invalid,
    Maintain,
    Reopen,
    Schedule,
    Search,
    Step,
    Write,
)
from umi_dst.seedfiles import parallel_seeds, seeds

DEFAULT_RUNS = 10
"""Runs of a timing-dependent script (a real fault or racing clients) unless given on its command line."""

FINAL_STATE_SAMPLE = 256
"""How many records a script's final check reads back: the harness compares every record, a
script keeps to an even sample so it stays readable."""


@dataclass
class Export:
    script: str
    report: str


def renderer_for(spec: str, dim: int, may_import: bool = True) -> BackendCalls:
    """The backend's own renderer, or calls of its factory and backend classes.

    Looking for a renderer imports a ``module:attribute`` backend (runs its code); with
    ``may_import`` False (a spec read from a seed file, not given by the user) only the
    project's own backends are imported, and the script calls the classes of any other.
    """
    if may_import or registry.is_own(spec):
        own = getattr(registry.resolve(spec), "export_calls", None)
        with contextlib.suppress(NotStandalone):  # an adapter whose builder needs umi-dst's code
            if own is not None:
                return own(dim)
    target = registry.BUILTIN_BACKENDS.get(spec, registry.canonical(spec))
    return OwnClassCalls(dim, target)


def export_file(path: Path, backend: str | None = None) -> Export:
    """Export the seed (sequential or parallel) at ``path``; ``backend`` overrides its own.

    A ``module:attribute`` backend named only by the seed file is not imported here.
    """
    path = Path(path)
    if parallel_seeds.is_parallel_seed(path):
        seed = parallel_seeds.load(path)
        return _Script(backend or seed.backend, seed.dim, seed, path, backend is not None).parallel(seed)
    seed = seeds.load(path)
    return _Script(backend or seed.backend, seed.dim, seed, path, backend is not None).sequential(seed)


# -- building a script -----------------------------------------------------------------------
_READS = (Get, Exists, Count, Search, FilteredSearch, GetMetadata)

_TYPED = [
    "def typed(metadata):",
    '    """Metadata as comparable data: each value with its type (1 is not 1.0 nor True)."""',
    "    return None if metadata is None else sorted((k, type(v).__name__, v) for k, v in metadata.items())",
]

_SAME = [
    "def same(a, b):",
    '    """Both absent, or both present with the same float32 bits."""',
    "    return (a is None) == (b is None) and (a is None or np.asarray(a, np.float32).tobytes() == b.tobytes())",
]


class _Script:
    """One export in the making: the renderer, the data, the oracle and the lines so far."""

    def __init__(self, spec: str, dim: int, seed, path: Path, may_import: bool) -> None:
        self.spec, self.dim, self.seed, self.path = spec, dim, seed, path
        self.calls = renderer_for(spec, dim, may_import)
        self.data = Data(dim)
        self.harness = Harness(_OracleOnly(dim))
        self.helpers: list[str] = []
        self.left_out: list[str] = []
        self.timing = False
        self.opened = 0
        """How many of the body's first lines open the store (``_open``)."""
        self.approximate = getattr(self.calls, "approximate", spec.endswith("-approx"))

    @property
    def oracle(self) -> SimVectorBackend:
        return self.harness.oracle

    # -- sequential seeds --------------------------------------------------------------------
    def sequential(self, seed: seeds.SeedFile) -> Export:
        failing = seed.failure.get("step")
        steps = seed.steps if failing is None else seed.steps[: failing + 1]
        body = self._open()
        if failing is not None and not 0 <= failing < len(seed.steps):
            raise ExportError(
                f"{self.path}: the failure names step {failing}, but the seed has {len(seed.steps)} steps"
            )
        if failing is not None and (
            isinstance(seed.steps[failing].op, Invalid) or seed.steps[failing].fault == ERROR_BEFORE
        ):
            raise ExportError(
                f"{self.path}: the failing step never reaches the engine (input rejected by validation, or a write failed before it was sent); there is no engine call to export"
            )
        tagged = next((i for i, step in enumerate(steps) if isinstance(step.op, FILTER_OPERATIONS)), None)
        if tagged is not None and not getattr(self.calls, "filters", False):
            raise ExportError(
                f"{self.path}: step {tagged} ({steps[tagged].op.kind}) uses metadata and filters, which the "
                f"export for {self.spec!r} does not render yet"
            )
        if failing is None and "recall" in seed.failure.get("message", ""):
            raise ExportError(f"{self.path}: a recall-floor failure is judged over many searches; it is not exported")
        for index, step in enumerate(steps):
            body += self._step(index, step, last=index == failing)
        if failing is None:
            body += ["# the final checks, on a fresh connection"] + self.calls.connect() + self._final_state()
        expectation = seed.failure.get("message", "")
        return self._finish(body, expectation)

    def _step(self, index: int, step: Step, last: bool) -> list[str]:
        op, fault = step.op, step.fault
        what = f"# step {index}: {describe(step)}"
        if isinstance(op, Invalid):
            self.left_out.append(f"step {index} ({op.call} with {op.defect}): rejected by validation, never sent")
            return []
        if isinstance(op, (Reopen, Abandon)):
            return [what] + self.calls.connect()
        if isinstance(op, (Maintain, Schedule)):
            self.left_out.append(f"step {index} ({describe(step)}): maintenance is not exported")
            return []
        if isinstance(op, _READS):
            if not last:
                self.left_out.append(f"step {index} ({op.kind}): a read that passed")
                return []
            return [what] + self._checked_read(op)
        if fault == ERROR_BEFORE:
            self.left_out.append(f"step {index} ({op.kind} under {fault}): failed before it was sent")
            return []
        write = self.harness.write_call(op)
        call = ExportCall(write.method, write.args, self.data, self.oracle)
        if fault is not None and fault != ERROR_AFTER:
            return [what] + self._under_fault(fault, step.at, call, index, last)
        if last:
            return [what] + self._checked_write(call)
        lines = self.calls.call(call, None)
        write.apply(self.oracle)
        if not lines:
            self.left_out.append(f"step {index} ({op.kind}): the backend answers it without the engine")
        return [what, *lines] if lines else []

    def _checked_write(self, call: ExportCall) -> list[str]:
        text = _call_text(call)
        result = "got" if call.method in ("delete", "delete_where") else None
        lines = ["try:", *indent(self.calls.call(call, result)), "except Exception as error:"]
        lines.append(
            f"    raise AssertionError({_message(text + ' raised %r; it is a valid call and must succeed', 'error')}) from error"
        )
        expected = getattr(self.oracle, call.method)(*call.args)
        if result:
            same = "is" if isinstance(expected, bool) else "=="
            lines.append(
                f"assert got {same} {expected!r}, {_message(text + ' returned %r, expected ' + repr(expected), 'got')}"
            )
        return lines + self._count_check(f"after {text}")

    def _checked_read(self, op) -> list[str]:
        if isinstance(op, Count):
            return self._count_check("")
        if isinstance(op, Search):
            query = self.harness.embedding(op.query)
            call = ExportCall("search", (query, op.limit), self.data, self.oracle)
            return self.calls.call(call, "got") + self._search_check(call)
        if isinstance(op, FilteredSearch):
            query = self.harness.embedding(op.query)
            call = ExportCall("filtered_search", (query, op.limit, from_text(op.filter)), self.data, self.oracle)
            raised = _message(_call_text(call) + " raised %r; it is a valid call and must succeed", "error")
            lines = ["try:", *indent(self.calls.call(call, "got")), "except Exception as error:"]
            return [*lines, f"    raise AssertionError({raised}) from error", *self._search_check(call)]
        if isinstance(op, GetMetadata):
            self._need(_TYPED)
            call = ExportCall("get_metadata", (op.id,), self.data, self.oracle)
            expected = self.oracle.get_metadata(op.id)
            message = _message(_call_text(call) + " returned %r, expected " + repr(expected), "got")
            return [*self.calls.call(call, "got"), f"assert typed(got) == typed({expected!r}), {message}"]
        call = ExportCall(op.kind, (op.id,), self.data, self.oracle)
        lines = self.calls.call(call, "got")
        if isinstance(op, Exists):
            expected = self.oracle.exists(op.id)
            lines.append(
                f"assert got is {expected!r}, {_message(_call_text(call) + ' returned %r, expected ' + repr(expected), 'got')}"
            )
        else:
            lines += self._get_check(call, "got")
        return lines

    def _get_check(self, call: ExportCall, got: str) -> list[str]:
        self._need(_SAME)
        stored = self.oracle.get(call.args[0])
        want = "None" if stored is None else self.data.vector(stored)
        promise = "nothing (the id is not stored)" if stored is None else f"the stored vector {want} bit for bit"
        return [f"assert same({got}, {want}), {_message(_call_text(call) + ' returned %r, expected ' + promise, got)}"]

    def _search_check(self, call: ExportCall) -> list[str]:
        query, limit = call.args[:2]
        expected = [(r.id, r.score) for r in self.oracle.search(query, limit, *call.args[2:])]
        text = _call_text(call)
        lines = [
            f"expected = {_short_list(expected)}  # (id, cosine similarity), best first: numpy, float64, over the stored float32 vectors",
            f"assert len(got) == len(expected), {_message(text + ' returned %d results, expected %d: %r', 'len(got), len(expected), got')}",
            "scores = [score for _, score in got]",
            f"assert scores == sorted(scores, reverse=True), {_message(text + ' scores are not best first: %r', 'got')}",
        ]
        if not self.approximate:
            lines += [
                "for rank, ((id, score), (want_id, want)) in enumerate(zip(got, expected)):",
                f"    assert abs(score - want) <= {DEFAULT_SCORE_ATOL}, {_message(text + ' rank %d: %r scored %r, but the cosine similarity at that rank is %r (%r)', 'rank, id, score, want, want_id')}",
            ]
        return lines

    def _count_check(self, when: str) -> list[str]:
        expected = self.oracle.count()
        call = ExportCall("count", (), self.data, self.oracle)
        where = f" {when}" if when else ""
        return self.calls.call(call, "got") + [
            f"assert got == {expected}, {_message(f'count is %r{where}, expected {expected}', 'got')}"
        ]

    def _under_fault(self, fault: str, at: CrashPoint | None, call: ExportCall, index: int, last: bool) -> list[str]:
        """A write under a real fault; as the harness does, then continue on a fresh connection.

        The renderer leaves ``acknowledged`` True if the write returned normally. If it did not,
        the write may or may not have happened: read every id back and accept all-old or all-new,
        or only the one state the fault leaves at its point.
        """
        rendered = self.calls.fault(fault, call, index, at)
        self.timing = self.timing or rendered.timed
        self.helpers += rendered.helpers
        lines = rendered.body + self.calls.connect()
        before = {id: self.oracle.get(id) for id in call.changed_ids()}
        after = SimVectorBackend(self.dim)
        for id, vector in before.items():
            if vector is not None:
                after.store(id, vector)
        getattr(after, call.method)(*call.args)
        getattr(self.oracle, call.method)(*call.args)
        if not last:
            return lines
        self._need(_SAME)
        ids = list(before)
        old = ", ".join(f"{ascii(id)}: {'None' if v is None else self.data.vector(v)}" for id, v in before.items())
        new = ", ".join(
            f"{ascii(id)}: {'None' if after.get(id) is None else self.data.vector(after.get(id))}" for id in ids
        )
        get = ExportCall("get", (Code("id"),), self.data, self.oracle)
        text = _call_text(call)
        return lines + [
            f"old = {{{old}}}",
            f"new = {{{new}}}",
            "seen = {}",
            "for id in old:",
            *indent(self.calls.call(get, "seen[id]")),
            "as_old = [id for id in old if same(seen[id], old[id])]",
            "as_new = [id for id in old if same(seen[id], new[id])]",
            "if acknowledged:",
            f"    assert len(as_new) == len(old), {_message(text + ' returned, but only %d of %d ids read back as written', 'len(as_new), len(old)')}",
            *indent(self._count_check(f"after {text}")),
            f"assert len(as_old) == len(old) or len(as_new) == len(old), {_message(text + ' was interrupted and left %d ids old, %d new, %d neither: it must be all or nothing', 'len(as_old), len(as_new), len(old) - len(as_old) - len(as_new)')}",
            *self._state_check(rendered.expected, f"{text} under {fault}" + (f" at {at.point}" if at else "")),
        ]

    def _state_check(self, expected: str | None, what: str) -> list[str]:
        """The one state a fault placed at its point must leave (the harness's check);
        ``expected`` is the source of an expression whose value is None, 'old' or 'new' (the
        script may learn it only as it runs)."""
        if expected is None:
            return []
        message = f"{ascii(what + ': at this point it must leave the ')} + expected + ' state, and left the other'"
        return [
            f"expected = {expected}",
            "if expected is not None:",
            f"    assert len(as_old if expected == 'old' else as_new) == len(old), {message}",
        ]

    def _final_state(self) -> list[str]:
        self._need(_SAME)
        sample = evenly_spaced(self.oracle.ids(), FINAL_STATE_SAMPLE)
        pairs = ", ".join(f"({ascii(id)}, {self.data.vector(self.oracle.get(id))})" for id in sample)
        get = ExportCall("get", (Code("id"),), self.data, self.oracle)
        return self._count_check("on a fresh connection") + [
            f"for id, want in [{pairs}]:",
            *indent(self.calls.call(get, "got")),
            f"    assert same(got, want), {_message('a fresh connection reads %r as %r, but it holds %r', 'id, got, want')}",
        ]

    # -- parallel seeds ----------------------------------------------------------------------
    def parallel(self, seed: parallel_seeds.ParallelSeed) -> Export:
        self.timing = True
        body = self._open()
        for index, step in enumerate(seed.prefix):
            body += self._step(index, step, last=False)
        initial = {id: self.oracle.get(id) for id in self.oracle.ids()}
        clients = []
        for number, steps in enumerate(seed.clients):
            clients.append(self._client(number, steps))
        self.helpers += self._client_runner(seed.clients_as, len(clients))
        for client in clients:
            self.helpers += client
        body += ["errors = run_clients(store)"] + self.calls.connect() + self._outcomes(seed, initial)
        return self._finish(
            body, seed.failure.get("message", "").splitlines()[0] if seed.failure.get("message") else ""
        )

    def _client(self, number: int, steps: list[Step]) -> list[str]:
        """One client: its own connection, then its writes as soon as every client is ready."""
        connect = self.calls.connect(shared=True)
        calls: list[str] = []
        for step in steps:
            if not isinstance(step.op, Write):
                self.left_out.append(f"client {number}: {step.op.kind} (a read; the final state is checked instead)")
                continue
            if step.fault == ERROR_BEFORE:
                self.left_out.append(f"client {number}: {step.op.kind} under {step.fault} (never sent)")
                continue
            if step.fault not in (None, ERROR_AFTER):
                raise ExportError(
                    f"client {number}: a {step.fault} in a concurrent history is not written as a script yet; replay the seed"
                )
            write = self.harness.write_call(step.op)
            calls += [f"# {describe(Step(step.op))}"] + self.calls.call(
                ExportCall(write.method, write.args, self.data, self.oracle, shared=True), None
            )
        return [
            "",
            "",
            f"def client_{number}(store, start, done):",
            *indent(connect),
            "    start.wait()",
            "    try:",
            *indent(calls, 2),
            "    except Exception as error:",
            f"        done.put(({number}, repr(error)))",
            "    else:",
            f"        done.put(({number}, None))",
        ]

    def _client_runner(self, clients_as: str, count: int) -> list[str]:
        if clients_as == "threads":
            kinds = "Worker, Barrier, Queue = threading.Thread, threading.Barrier, queue.Queue"
            self.extra_imports = ["import queue", "import threading"]
        else:
            kinds = 'spawn = multiprocessing.get_context("spawn")\n    Worker, Barrier, Queue = spawn.Process, spawn.Barrier, spawn.Queue'
            self.extra_imports = ["import multiprocessing"]
        names = ", ".join(f"client_{n}" for n in range(count))
        return [
            "",
            "",
            "def run_clients(store):",
            f'    """Start the {count} clients together ({clients_as}); what each raised (None: every write returned)."""',
            *[f"    {line.strip()}" for line in kinds.splitlines()],
            f"    start, done = Barrier({count}), Queue()",
            f"    workers = [Worker(target=client, args=(store, start, done)) for client in ({names},)]",
            "    for worker in workers:",
            "        worker.start()",
            "    errors = dict(done.get() for _ in workers)",
            "    for worker in workers:",
            "        worker.join()",
            "    return errors",
        ]

    def _outcomes(self, seed: parallel_seeds.ParallelSeed, initial: dict) -> list[str]:
        """What a fresh connection may read for each id once every client is done.

        An id written by one client only must hold that client's last write if all its writes
        returned; otherwise it may hold its value before the clients or any value a client
        wrote. The count must match the ids present. And as in the harness, no valid write may
        raise (CONTRACT §4).
        """
        self._need(_SAME)
        writers: dict[str, set[int]] = {}
        finals: dict[str, dict[int, np.ndarray | None]] = {}
        allowed: dict[str, list[np.ndarray | None]] = {id: [v] for id, v in initial.items()}
        for number, steps in enumerate(seed.clients):
            for step in steps:
                if not isinstance(step.op, Write) or step.fault == ERROR_BEFORE:
                    continue
                for id, vector in self.harness.write_call(step.op).changes():
                    writers.setdefault(id, set()).add(number)
                    finals.setdefault(id, {})[number] = vector
                    allowed.setdefault(id, [None] if id not in initial else []).append(vector)
        rows = []
        for id in sorted(allowed):
            sole = next(iter(writers[id])) if len(writers.get(id, ())) == 1 else None
            final = "None" if sole is None or finals[id][sole] is None else self.data.vector(finals[id][sole])
            may = ", ".join("None" if v is None else self.data.vector(v) for v in allowed[id])
            rows.append(f"    ({ascii(id)}, {sole}, {final}, [{may}]),")
        get = ExportCall("get", (Code("id"),), self.data, self.oracle)
        count = ExportCall("count", (), self.data, self.oracle)
        return [
            "present = 0",
            "for id, writer, final, allowed in [  # id, its only writer (None: several), that writer's last value, every possible value",
            *rows,
            "]:",
            *indent(self.calls.call(get, "got")),
            "    present += got is not None",
            "    if writer is not None and errors[writer] is None:",
            f"        assert same(got, final), {_message('client %d wrote %r last and was acknowledged, but a fresh connection reads %r, not %r', 'writer, id, got, final')}",
            f"    assert any(same(got, value) for value in allowed), {_message('%r reads %r, which no client wrote', 'id, got')}",
            *self.calls.call(count, "got"),
            f"assert got == present, {_message('count is %r, but %d distinct ids are present', 'got, present')}",
            "raised = {client: error for client, error in errors.items() if error}",
            f"assert not raised, {_message('valid writes raised while other clients ran: %r', 'raised')}",
        ]

    # -- the script and the report -----------------------------------------------------------
    def _need(self, helper: list[str]) -> None:
        if helper[0] not in self.helpers:
            self.helpers += ["", "", *helper]

    def _open(self) -> list[str]:
        """The store's opening lines, counted: what follows them runs in a ``try`` whose
        ``finally`` closes the store, for a renderer with a ``close_store``."""
        opened = self.calls.open_store()
        self.opened = len(opened)
        return list(opened)

    def _finish(self, body: list[str], failure: str) -> Export:
        calls = self.calls
        closing = getattr(calls, "close_store", list)()
        if closing:
            body = [*body[: self.opened], "try:", *indent(body[self.opened :]), "finally:", *indent(closing)]
        imports = sorted(
            {
                "import sys",
                "import tempfile",
                "import numpy as np",
                *calls.imports(),
                *getattr(self, "extra_imports", []),
            }
        )
        if self.data.rows and np.stack(self.data.rows).size > LITERAL_VALUES:
            imports.insert(0, "import base64")
        header = self._header(failure)
        lines = [f'"""{header}\n"""', "", *_import_block(imports), "", f"DIM = {self.dim}"]
        lines += calls.helpers() + self.helpers
        lines += ["", "", "def reproduce(workdir, run=0):", *indent(body), "", "", *self.data.source(), "", ""]
        lines += ['if __name__ == "__main__":', f"    print({calls.versions()})", *indent(calls.before_runs())]
        if self.timing:
            lines += [
                f"    runs = int(sys.argv[1]) if len(sys.argv) > 1 else {DEFAULT_RUNS}",
                "    failures = 0",
                "    for run in range(runs):",
                "        with tempfile.TemporaryDirectory() as workdir:",
                "            try:",
                "                reproduce(workdir, run)",
                "            except AssertionError as error:",
                "                failures += 1",
                '                print(f"run {run + 1}/{runs}: FAIL: {error}")',
                "            else:",
                '                print(f"run {run + 1}/{runs}: pass")',
                '    assert failures == 0, f"the failure showed in {failures} of {runs} runs"',
            ]
        else:
            lines += ["    with tempfile.TemporaryDirectory() as workdir:", "        reproduce(workdir)"]
        lines.append('    print("PASS: the store behaved as documented")')
        script = "\n".join(lines) + "\n"
        return Export(script, self._report(header))

    def _header(self, failure: str) -> str:
        seed = self.seed
        found = ", ".join(f"{k} {v}" for k, v in seed.versions.items() if k not in ("umi-dst", "hypothesis"))
        needs = ", ".join(self.calls.requirements)
        run = "python SCRIPT [RUNS]" if self.timing else f"python SCRIPT{getattr(self.calls, 'arguments', '')}"
        lines = [
            textwrap.fill(seed.description or failure or "a failure found by umi-dst", 96),
            "",
            f"Exported by umi-dst {umi_dst.__version__} from the seed {self.path.name} (backend {self.spec});",
            f"needs only {needs}. Found with: {found}.",
        ]
        if failure:
            lines += textwrap.wrap(f"The seed failed with: {failure}", 96)
        lines += [f"Run: {run}. Exit 0 and PASS: the store behaved as documented; an AssertionError: the bug."]
        if self.left_out:
            lines += textwrap.wrap("Left out (they cannot matter): " + "; ".join(self.left_out) + ".", 96)
        return "\n".join(lines)

    def _report(self, header: str) -> str:
        seed = self.seed
        title = (seed.description or "a failure found by umi-dst").split(":")[0]
        versions = "\n".join(
            f"- {name} {version}" for name, version in seed.versions.items() if name not in ("umi-dst", "hypothesis")
        )
        message = seed.failure.get("message", "")
        return "\n".join(
            [
                f"# {title}",
                "",
                "## Versions",
                "",
                versions,
                "",
                "## What happened",
                "",
                seed.description or "(describe the failure)",
                "",
                f"The script below reproduces it with {', '.join(self.calls.requirements)} only. umi-dst saw:",
                "",
                "```",
                message or "(paste the AssertionError)",
                "```",
                "",
                "## What the documentation promises",
                "",
                "(Quote the engine's documentation for the calls in the script, and say which promise the",
                "assertion checks.)",
                "",
                "## Reproduction",
                "",
                "```python",
                "(paste the script exported next to this file)",
                "```",
                "",
                "## Timeline",
                "",
                *self._page_link(),
                "",
                f"Found by [umi-dst](https://example.invalid/umi-dst) {umi_dst.__version__}: seed `{self.path.name}`.",
                "",
            ]
        )

    def _page_link(self) -> list[str]:
        """The seed's HTML page (written beside it when it was saved), to attach to the report."""
        page = page_path(self.path)
        made = "" if page.exists() else f" (make it with `umi-dst replay {self.path} --html {page}`)"
        return textwrap.wrap(
            f"The failure drawn as a timeline, one self-contained HTML file to attach: [{page.name}]({page.as_posix()}){made}.",
            96,
            break_long_words=False,
            break_on_hyphens=False,
        )


class _OracleOnly:
    """A factory whose backend is a Sim: the export needs the harness's oracle, never a store."""

    name = "oracle"
    score_atol = 0.0
    approximate = False
    recall_floor = None
    nemeses: dict = {}

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def open(self) -> SimVectorBackend:
        return SimVectorBackend(self.dim)

    def destroy(self) -> None:
        """Nothing to remove."""


def _call_text(call: ExportCall) -> str:
    if call.method == "store_batch":
        return f"store_batch of {len(call.args[0])} items"
    if call.method == "search":
        return f"search(limit={call.args[1]})"
    if call.method == "filtered_search":
        return f"search(limit={call.args[1]}, filter={call.args[2]!r})"
    if call.method == "delete_where":
        return f"delete_where({call.args[0]!r})"
    shown = [ascii(a) if isinstance(a, str) and not isinstance(a, Code) else "..." for a in call.args]
    return f"{call.method}({', '.join(shown)})"


def _message(template: str, values: str) -> str:
    """``'template' % (values)`` as source; the template is a plain literal, so ids stay exact."""
    return f"{ascii(template)} % ({values}{'' if ',' in values else ','})"


def _short_list(pairs: list[tuple[str, float]]) -> str:
    return "[" + ", ".join(f"({ascii(id)}, {score!r})" for id, score in pairs) + "]"


def _import_block(imports: list[str]) -> list[str]:
    plain = sorted(i for i in imports if i.startswith("import "))
    from_ = sorted(i for i in imports if i.startswith("from "))
    return plain + from_


def default_script_path(seed: Path, backend: str | None) -> Path:
    """``repro-<seed>[-<backend>].py`` in the current directory."""
    suffix = "" if backend is None else "-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", backend).strip("-")
    return Path(f"repro-{Path(seed).stem}{suffix}.py")


def write(export: Export, out: Path) -> tuple[Path, Path]:
    """Write the script to ``out`` and the report skeleton beside it (``.md``); both or neither."""
    out = Path(out)
    report = out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    report_text = export.report.replace("(paste the script exported next to this file)", export.script.rstrip("\n"))
    for target, text in ((out, export.script), (report, report_text)):
        temporary = target.with_name(f".tmp-{target.name}")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(target)
    return out, report
