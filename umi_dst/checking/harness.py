"""The harness: runs one step on the backend and on the oracle, then checks the outcome.

Both the Hypothesis machine and seed replay drive a ``Harness``, so a replayed seed performs
exactly the calls and checks that found the failure. Data flows one way: step -> concrete
arguments (made from recipes against the oracle) -> backend and oracle -> named check.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umi_dst import invalid
from umi_dst.backends.sim import SimVectorBackend
from umi_dst.checking import (
    checks,
    crash_states,
    file_ops,
    filter_steps,
    filtered_recall_battery,
    maintenance_steps,
    recall_battery,
    search_battery,
)
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.faults import INJECTED_FAULTS, inject
from umi_dst.contract import (
    BackendFactory,
    Embedding,
    FullScan,
    InvalidInput,
    MetadataScan,
    VectorBackend,
    WriteCall,
    check_declarations,
    declares_filters,
)
from umi_dst.filter_ops import FILTER_WRITES, FilteredSearch, GetMetadata
from umi_dst.filter_support import declared_support
from umi_dst.operations import (
    Abandon,
    Count,
    CrashPoint,
    Delete,
    Exists,
    Get,
    Invalid,
    Maintain,
    Reopen,
    Schedule,
    Search,
    Step,
    Store,
    StoreBatch,
    Write,
)

CRASH_STATE_SAMPLE = 16
"""How many ids of a large batch are read back in each intermediate crash state (there are many
states; the state a test case continues from is read back whole)."""
SCAN_AT = 64
"""From this many ids on, a backend that offers ``FullScan`` is read with one scan, not gets,
unless it names its own threshold as ``scan_from`` (a store whose every read is a full query
plan, like Lance, scans from 2 ids)."""


@dataclass(frozen=True)
class Crash:
    """Where ``Harness.crash_inside`` left the store: the crash state it continues from."""

    target: crash_states.CrashState
    states: int
    """Crash states the call's file operations give (before removing duplicates)."""
    total: int
    """File operations the call made."""
    complete: bool
    """Whether ``target`` is the state after the call's last file operation."""


@dataclass
class Harness:
    """One store under test, its oracle, and the checks between them."""

    factory: BackendFactory
    log: Callable[[str], None] | None = None
    oracle: SimVectorBackend = field(init=False)
    backend: VectorBackend = field(init=False)
    recall: recall_battery.RecallReport | None = None
    """The recall battery's outcome, once ``finish`` has run it (approximate mode)."""
    filtered_recall: filtered_recall_battery.FilteredRecallReport | None = None
    """The filtered recall battery's outcome, once ``finish`` has run it (approximate mode, filters)."""
    steps_run: int = 0
    matching: int | None = None
    """How many records the latest filtered search's filter selected (coverage)."""
    crash_states_checked: int = 0
    fault_outcome: str | None = None
    """How the latest faulty write ended: ``completed``, or failed and resolved to ``old`` or
    ``new``, or ``unchanged`` when the write changes nothing (old and new are one state)."""
    maintenance_outcome: str = ""
    """What its fault did to the latest maintenance step (``maintenance_steps.OUTCOMES``; coverage)."""
    _abandoned: list[VectorBackend] = field(default_factory=list)
    _crashed: list[VectorBackend] = field(default_factory=list)
    """Connections of a process that crashed: never closed, as nothing runs after a crash."""
    _disturbed: list[VectorBackend] = field(default_factory=list)
    """Connections that lived through a nemesis (a real fault): they may fail to close."""

    def __post_init__(self) -> None:
        check_declarations(self.factory)
        self.oracle = SimVectorBackend(self.factory.dim)
        self.backend = self.factory.open()

    @property
    def dim(self) -> int:
        return self.factory.dim

    @property
    def data_dir(self) -> Path | None:
        """The directory holding a file-based store's files, if its factory declares one."""
        declared = getattr(self.factory, "data_dir", None)
        return None if declared is None else Path(declared)

    def available_faults(self) -> tuple[str, ...]:
        crash = (crash_states.CRASH,) if self.data_dir is not None and file_ops.supported() else ()
        return INJECTED_FAULTS + crash + tuple(sorted(self.factory.nemeses))

    def crash_points(self, fault: str) -> tuple[str, ...]:
        """The named points inside a write where ``fault`` can strike (none: it is not placed)."""
        if fault == crash_states.CRASH:
            return crash_states.FILE_CRASH_POINTS
        return tuple(getattr(self.factory.nemeses.get(fault), "points", ()))

    # -- running steps ------------------------------------------------------------------
    def run(self, step: Step) -> None:
        """Run one step and the per-step invariant; raise ``ContractViolation`` on a mismatch."""
        if self.log:
            self.log(f"step {self.steps_run}: {describe(step)}")
        self.steps_run += 1
        op = step.op
        if isinstance(op, Maintain):
            self.maintenance_outcome = maintenance_steps.run(self, step)
            done = self.maintenance_outcome in (maintenance_steps.CLEAN, maintenance_steps.COMPLETED)
            self.fault_outcome = "completed" if done else "unchanged"
        elif step.fault == crash_states.CRASH:
            self._crash(op, step.at)
        elif step.at is not None:
            self._placed_fault(op, step.fault, step.at)
        elif step.fault is not None:
            self._faulty_write(op, step.fault)
        elif isinstance(op, Write):
            self._write(op)
        elif isinstance(op, (GetMetadata, FilteredSearch)):
            self.matching = filter_steps.read(self, op)
        elif isinstance(op, Get):
            checks.bit_exact(f"get({op.id!r})", self.backend.get(op.id), self.oracle.get(op.id))
        elif isinstance(op, Exists):
            checks.equal(f"exists({op.id!r})", self.backend.exists(op.id), self.oracle.exists(op.id))
        elif isinstance(op, Count):
            pass  # the invariant below is the check
        elif isinstance(op, Search):
            self._search(op)
        elif isinstance(op, Invalid):
            self._invalid(op)
        elif isinstance(op, Reopen):
            self.reopen()
        elif isinstance(op, Abandon):
            self._abandoned.append(self.backend)
            self.backend = self.factory.open()
        elif isinstance(op, Schedule):
            maintenance_steps.schedule(self, op)
        else:
            raise TypeError(f"unknown operation {op!r}")
        checks.equal("count()", self.backend.count(), self.oracle.count())

    def finish(self) -> None:
        """Final checks on a fresh connection: every record, the search battery, the recall floor."""
        for backend in self._abandoned:
            self._close(backend, "an abandoned connection")
        self._abandoned.clear()
        upgrade = getattr(self.factory, "upgrade", None)
        if upgrade is not None:  # a store written by an older release (umi_dst.upgrade)
            upgrade(self)
        self.reopen()
        checks.equal("count() on a fresh connection", self.backend.count(), self.oracle.count())
        self._compare_every_record("on a fresh connection")
        search_battery.run(self.backend, self.oracle, self.factory.score_atol, exact=not self.factory.approximate)
        if declares_filters(self.factory):
            filter_steps.compare_every_metadata(self, "on a fresh connection")
        if self.factory.approximate:
            self.recall = recall_battery.run(self.backend, self.oracle, self.factory.score_atol)
            if self.log:
                self.log(f"  recall battery: {self.recall.summary()}")
            self.recall.judge(self.factory.recall_floor)
            if declares_filters(self.factory):
                self._filtered_recall()

    def _filtered_recall(self) -> None:
        support = declared_support(self.factory)
        report = filtered_recall_battery.run(self.backend, self.oracle, self.factory.score_atol, support)
        self.filtered_recall = report
        if self.log:
            self.log(f"  filtered recall battery: {report.summary()}")
        report.judge(self.factory.recall_floor)

    def close(self) -> None:
        """Release every connection, the abandoned ones included; errors here are not findings."""
        for backend in [*self._abandoned, self.backend]:
            with contextlib.suppress(Exception):
                backend.close()
        self._abandoned.clear()
        self._crashed.clear()

    def reopen(self) -> None:
        """Close the connection (it must close cleanly unless it lived through a nemesis), open anew."""
        self._close(self.backend, "the connection")
        self.backend = self.factory.open()

    def _close(self, backend: VectorBackend, what: str) -> None:
        try:
            backend.close()
        except Exception as exc:
            if not any(backend is disturbed for disturbed in self._disturbed):
                raise ContractViolation(
                    f"close() of {what} raised {type(exc).__name__} with no fault injected: {exc}", "None", repr(exc)
                ) from exc

    # -- writes -------------------------------------------------------------------------
    def _disturb(self) -> None:
        """The connections now open live through a nemesis: they may fail to close."""
        self._disturbed.extend([*self._abandoned, self.backend])

    def _crash_connection(self) -> None:
        """The current connection's process crashes: it is never closed."""
        self._crashed.append(self.backend)

    def write_call(self, op: Write) -> WriteCall:
        """Concrete arguments for a write, with recipes made against the oracle's state."""
        if isinstance(op, FILTER_WRITES):
            return filter_steps.write_call(self, op)
        if isinstance(op, Store):
            return WriteCall("store", (op.id, self.embedding(op.embedding)))
        if isinstance(op, Delete):
            return WriteCall("delete", (op.id,))
        items = [(id, self.embedding(recipe)) for id, recipe in op.items]
        if op.bulk is not None:
            items.extend(zip(op.bulk.ids(), op.bulk.vectors(self.dim)))
        return WriteCall("store_batch", (items,))

    def embedding(self, recipe) -> Embedding:
        return recipe.make(self.dim, self.oracle.get)

    def _write(self, op: Write) -> None:
        call = self.write_call(op)
        try:
            returned = call.apply(self.backend)
        except Exception as exc:
            raise ContractViolation(
                f"{call.method} of valid input raised {type(exc).__name__}: {exc}", "success", repr(exc)
            ) from exc
        expected = call.apply(self.oracle)
        checks.equal(f"{call.method} returned", returned, expected)

    def _faulty_write(self, op: Write, fault: str) -> None:
        if not isinstance(op, Write):
            raise TypeError(f"fault {fault!r} attached to {op.kind}, which is not a write")
        call = self.write_call(op)
        nemesis = self.factory.nemeses.get(fault)
        if nemesis is not None:
            self._disturb()
        recorder = _ReturnRecorder(self.backend, call.method)
        failed = False
        try:
            if nemesis is not None:
                nemesis.disturb(recorder, call)
            elif fault in INJECTED_FAULTS:
                inject(fault, self.backend, call)
            else:
                raise ContractViolation(f"backend {self.factory.name!r} declares no nemesis {fault!r}")
        except ContractViolation:
            raise
        except Exception as exc:
            failed = True
            if self.log:
                self.log(f"  write raised under {fault}: {type(exc).__name__}: {exc}")
        finally:
            if nemesis is not None:
                nemesis.heal()
                self.reopen()
        if failed:
            self.fault_outcome = self._resolve_indeterminate(call)
            return
        self.fault_outcome = "completed"
        expected = call.apply(self.oracle)
        if not recorder.returned:
            return  # the nemesis ran the write elsewhere: its answer is not seen
        returned = recorder.returned[-1]
        if getattr(nemesis, "duplicates_write", False):
            second_delivery = call.apply(self.oracle)  # writes are idempotent: the state stays
            if returned == second_delivery and type(returned) is type(second_delivery):
                return
        checks.equal(f"{call.method} returned under {fault}", returned, expected)

    def _resolve_indeterminate(self, call: WriteCall) -> str:
        """A failed write may have landed or not: read back and accept all-old or all-new."""
        if declares_filters(self.factory):
            return filter_steps.resolve_indeterminate(self, call)
        outcome, sample = self._read_back(self.backend, call, f"failed {call.method}")
        if outcome == "new":
            call.apply(self.oracle)
        if self.log:
            self.log(f"  indeterminate write resolved by reading back {sample} ids: {outcome} state")
        return _told_apart(outcome, sample)

    def _read_back(
        self, backend: VectorBackend, call: WriteCall, what: str, sample_size: int | None = None
    ) -> tuple[str, int]:
        """Whether ``backend`` holds the state before ``call`` or after it ("old" or "new"),
        read back on every id it changes (or an even sample of ``sample_size``); anything else
        is a violation, explained for one id with what was read and both candidates."""
        before = self.oracle
        after = SimVectorBackend(self.dim)
        changed = call.changed_ids()
        for id in changed:
            vector = before.get(id)
            if vector is not None:
                after.store(id, vector)
        call.apply(after)
        informative = [id for id in changed if not _same(before.get(id), after.get(id))]
        sample = informative if sample_size is None else evenly_spaced(informative, sample_size)
        if not sample:
            return "new", 0  # the write changes nothing: old and new are the same state
        seen = self.stored(backend, sample)
        old = [id for id in sample if _same(seen[id], before.get(id))]
        new = [id for id in sample if _same(seen[id], after.get(id))]
        if len(old) == len(sample):
            return "old", len(sample)
        if len(new) == len(sample):
            return "new", len(sample)
        third = [id for id in sample if id not in old and id not in new]
        if third:
            id = third[0]
            example = (
                f"{id!r} reads back {_shown(seen[id])}: against the old state "
                f"{checks.describe_vector_difference(seen[id], before.get(id))}, against the new "
                f"{checks.describe_vector_difference(seen[id], after.get(id))}"
            )
        else:
            example = f"{old[0]!r} is in its old state and {new[0]!r} in its new one"
        raise ContractViolation(
            f"{what} left a state that is neither all-old nor all-new: "
            f"{len(old)} ids old, {len(new)} new, {len(third)} neither; {example}",
            "all old or all new",
            {"old": old[:5], "new": new[:5], "neither": third[:5]},
        )

    def stored(self, backend: VectorBackend, ids: list[str]) -> dict[str, Embedding | None]:
        """Each id's stored vector (``None`` when absent): one scan when the backend offers it and it pays."""
        if len(ids) < getattr(backend, "scan_from", SCAN_AT) or not isinstance(backend, FullScan):
            return {id: backend.get(id) for id in ids}
        stored = self._scan(backend)
        return {id: stored.get(id) for id in ids}

    def stored_metadata(self, backend: VectorBackend, ids: list[str]) -> dict[str, dict | None]:
        """Each id's metadata (``None`` when absent): one metadata scan when the backend offers
        it and it pays, as for ``stored``."""
        if len(ids) < getattr(backend, "scan_from", SCAN_AT) or not isinstance(backend, MetadataScan):
            return {id: backend.get_metadata(id) for id in ids}
        stored = self.scan_metadata(backend)
        return {id: stored.get(id) for id in ids}

    def scan_metadata(self, backend: MetadataScan) -> dict[str, dict]:
        """The backend's metadata scan, checked for shape and repeated ids, as a dict."""
        ids, rows = backend.scan_metadata()
        if len(ids) != len(rows):
            raise ContractViolation(f"scan_metadata() returned {len(ids)} ids and {len(rows)} metadata")
        return _unique("scan_metadata()", ids, rows)

    def _scan(self, backend: VectorBackend) -> dict[str, Embedding]:
        """The backend's full scan, checked for shape and repeated ids, as a dict."""
        return dict(zip(*self._scanned(backend)))

    def _scanned(self, backend: VectorBackend) -> tuple[list[str], np.ndarray]:
        """The backend's full scan, checked for shape and repeated ids: its ids and matrix."""
        ids, matrix = backend.scan()
        if not isinstance(matrix, np.ndarray) or matrix.dtype != np.float32 or matrix.shape != (len(ids), self.dim):
            described = f"{type(matrix).__name__} {getattr(matrix, 'dtype', '')} {getattr(matrix, 'shape', '')}"
            raise ContractViolation(
                f"scan() returned {len(ids)} ids and {described}, not a float32 ({len(ids)}, {self.dim}) matrix"
            )
        _no_repeats("scan()", ids)
        return ids, matrix

    def _compare_every_record(self, where: str, backend: VectorBackend | None = None) -> None:
        """Every record stored through ``backend`` (default: the current connection) bit for
        bit against the oracle: one scan, or one get per id."""
        backend = self.backend if backend is None else backend
        expected_ids = self.oracle.ids()
        if not isinstance(backend, FullScan):
            for id in expected_ids:
                checks.bit_exact(f"get({id!r}) {where}", backend.get(id), self.oracle.get(id))
            return
        ids, matrix = self._scanned(backend)
        extra = sorted(set(ids) - set(expected_ids))
        if extra:
            raise ContractViolation(f"scan() {where} holds {extra[0]!r}, which is not stored", None, extra[:5])
        if _holds_exactly(ids, matrix, self.oracle, len(expected_ids)):
            return
        stored = dict(zip(ids, matrix))
        for id in expected_ids:  # something differs: find and name the first record that does
            checks.bit_exact(f"scan() {where}, record {id!r}", stored.get(id), self.oracle.get(id))

    # -- crash points -------------------------------------------------------------------
    def _placed_fault(self, op: Write, fault: str, at: CrashPoint) -> None:
        """A nemesis struck at a named point of the write: the state read back must be exactly
        the one it expects there (and all-new whenever the write returned)."""
        if not isinstance(op, Write):
            raise TypeError(f"fault {fault!r} attached to {op.kind}, which is not a write")
        nemesis = self.factory.nemeses.get(fault)
        points = self.crash_points(fault)
        if at.point not in points:
            raise ContractViolation(
                f"backend {self.factory.name!r} has no crash point {at.point!r} for {fault!r}; it has {points}"
            )
        call = self.write_call(op)
        expected = nemesis.expected(at)
        returned = True
        self._disturb()
        try:
            nemesis.strike(self.backend, call, at)
        except Exception as exc:
            returned = False
            if self.log:
                self.log(f"  write raised under {fault} at {at.point}: {type(exc).__name__}: {exc}")
        finally:
            nemesis.heal()
            self.reopen()
        what = f"{call.method} under {fault} at {at.point} (k={at.k})"
        outcome, sampled = self._read_back(self.backend, call, what)
        if returned and outcome != "new":
            raise ContractViolation(f"{what} returned, yet a fresh connection reads the old state", "new", "old")
        if expected is not None and outcome != expected and sampled:  # a write that changes nothing leaves one state
            raise ContractViolation(
                f"{what} left the {outcome} state; at this point it must leave the {expected}", expected, outcome
            )
        self.fault_outcome = _told_apart(outcome, sampled)
        if outcome == "new":
            call.apply(self.oracle)
        self._compare_metadata_after(call, what)
        if self.log:
            self.log(f"  {what}: {outcome} state, as expected")

    def _crash(self, op: Write, at: CrashPoint | None) -> None:
        """Crash the process inside the write: check every crash state, continue from ``at``'s.

        Each state of the store's directory is opened with a fresh connection; it must open,
        hold all-old or all-new, and the state after the write's last file operation (what an
        acknowledged write leaves) must hold all-new.
        """
        if not isinstance(op, Write):
            raise TypeError(f"fault {crash_states.CRASH!r} attached to {op.kind}, which is not a write")
        call = self.write_call(op)
        crash = self.crash_inside(
            call,
            at,
            lambda exc: f"{call.method} of valid input raised {type(exc).__name__}: {exc}",
            lambda state, total, acknowledged: self._check_crash_state(
                call, state.label(total), acknowledged=acknowledged
            ),
        )
        target, total = crash.target, crash.total
        outcome, sampled = self._read_back(self.backend, call, target.label(total))
        self.fault_outcome = _told_apart(outcome, sampled)
        if outcome == "new":
            call.apply(self.oracle)
        self._compare_metadata_after(call, f"{call.method} with a {target.label(total)}")
        if self.log:
            self.log(
                f"  {crash.states} crash states over {total} file operations checked; continued from the "
                f"{target.label(total)}: {outcome} state"
            )

    def crash_inside(
        self,
        call: WriteCall,
        at: CrashPoint | None,
        raised: Callable[[Exception], str],
        check: Callable[[crash_states.CrashState, int, bool], None],
    ) -> Crash:
        """Run ``call`` on a connection the process then loses, recording its file operations;
        ``check(state, total, acknowledged)`` each distinct crash state of the store's files
        (``acknowledged``: the state after the last one), then leave the files as ``at`` names
        and open a fresh connection there. A call that raises is a violation, told by ``raised``."""
        root = self.data_dir
        if root is None:
            raise ContractViolation(f"backend {self.factory.name!r} declares no data_dir, so it cannot crash")
        if at is None:
            raise ValueError(
                f"fault {crash_states.CRASH!r} needs a crash point (one of {crash_states.FILE_CRASH_POINTS})"
            )
        crashed = self.backend
        self._crash_connection()
        root.mkdir(parents=True, exist_ok=True)
        try:
            _, before, ops, after = file_ops.record(root, lambda: call.apply(crashed))
        except file_ops.RecordingError:
            raise
        except Exception as exc:
            raise ContractViolation(raised(exc), "success", repr(exc)) from exc
        states = crash_states.crash_states(before, ops)
        current = after
        for state in crash_states.distinct(states):
            crash_states.materialize(root, current, state.files)
            current = state.files
            check(state, len(ops), state.files == after)
        target = crash_states.chosen(states, at)
        crash_states.materialize(root, current, target.files)
        self.backend = self.factory.open()
        return Crash(target, len(states), len(ops), complete=target.files == after)

    def _compare_metadata_after(self, call: WriteCall, what: str) -> None:
        """After a crash point, the metadata of (a sample of) the ids the write changes is the
        state's too: a vector that landed without its metadata, or the reverse, is caught here."""
        if declares_filters(self.factory):
            sample = evenly_spaced(call.changed_ids(), CRASH_STATE_SAMPLE)
            filter_steps.compare_metadata_of(self, sample, f"after {what}")

    @contextlib.contextmanager
    def fresh_connection(self, what: str) -> Iterator[VectorBackend]:
        """A new connection to the store as a crash or a fault left it, closed afterwards; a
        connection that cannot open or read is a violation of ``what`` (CONTRACT §6)."""
        backend = None
        try:
            backend = self.factory.open()
            yield backend
        except ContractViolation:
            raise
        except Exception as exc:
            raise ContractViolation(
                f"{what}: a fresh connection fails: {type(exc).__name__}: {exc}", "the store opens and reads", repr(exc)
            ) from exc
        finally:
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.close()

    def _check_crash_state(self, call: WriteCall, label: str, *, acknowledged: bool) -> None:
        """A fresh connection to one crash state opens and holds all-old or all-new (all-new
        when the write had done everything), with a count to match."""
        self.crash_states_checked += 1
        what = f"{call.method} with a {label}"
        with self.fresh_connection(what) as backend:
            outcome, _ = self._read_back(backend, call, what, CRASH_STATE_SAMPLE)
            count = backend.count()
        if acknowledged and outcome != "new":
            raise ContractViolation(
                f"{what} lost the write: every file operation of it was done, yet a fresh connection reads the old state",
                "new",
                "old",
            )
        expected = self.oracle.count() if outcome == "old" else _count_after(self.oracle, call)
        checks.equal(f"count() after {what} ({outcome} state)", count, expected)

    # -- reads --------------------------------------------------------------------------
    def _search(self, op: Search) -> None:
        query = self.embedding(op.query)
        try:
            results = self.backend.search(query, op.limit)
        except Exception as exc:
            raise ContractViolation(f"search of valid input raised {type(exc).__name__}: {exc}") from exc
        ids, scores = self.oracle.scores(query)
        checks.search_results(
            results, ids, scores, op.limit, self.factory.score_atol, exact=not self.factory.approximate
        )

    def _invalid(self, op: Invalid) -> None:
        args = invalid.arguments(op.call, op.defect, self.dim)
        try:
            getattr(self.backend, op.call)(*args)
        except InvalidInput:
            pass
        except Exception as exc:
            raise ContractViolation(
                f"{op.call} with {op.defect} raised {type(exc).__name__}, not InvalidInput: {exc}",
                "InvalidInput",
                type(exc).__name__,
            ) from exc
        else:
            raise ContractViolation(
                f"{op.call} with {op.defect} was accepted; it must raise InvalidInput", "InvalidInput", "no error"
            )
        for id, vector in self.stored(self.backend, list(invalid.touched_ids(op.call))).items():
            checks.bit_exact(f"get({id!r}) after rejected {op.call}", vector, self.oracle.get(id))


def _count_after(oracle: SimVectorBackend, call: WriteCall) -> int:
    """The oracle's count had ``call`` been applied to it."""
    present = {id: oracle.exists(id) for id in call.changed_ids()}
    if call.method == "delete":
        return oracle.count() - sum(present.values())
    return oracle.count() + sum(not here for here in present.values())


def _told_apart(outcome: str, ids_read: int) -> str:
    """A failed write's outcome for coverage: ``unchanged`` when nothing was read back because
    the write changes nothing (a delete of a missing id), so it is not counted as landed."""
    return outcome if ids_read else "unchanged"


class _ReturnRecorder:
    """Stands in for the backend while a nemesis runs, so a write that completes in this
    process has its return value checked (a nemesis may also run it elsewhere, unseen)."""

    def __init__(self, backend: VectorBackend, method: str) -> None:
        vars(self).update(_backend=backend, _method=method, returned=[])

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._backend, name, value)

    def __getattr__(self, name: str):
        attribute = getattr(self._backend, name)
        if name != self._method:
            return attribute

        def recorded(*args, **kwargs):
            value = attribute(*args, **kwargs)
            self.returned.append(value)
            return value

        return recorded


def _same(a: Embedding | None, b: Embedding | None) -> bool:
    if a is None or b is None:
        return a is b
    return isinstance(a, np.ndarray) and a.shape == b.shape and a.tobytes() == b.tobytes()


def _shown(vector: Embedding | None) -> object:
    return "nothing (absent)" if vector is None else checks.short(vector)


def evenly_spaced(items: Sequence[str], at_most: int) -> list[str]:
    if len(items) <= at_most:
        return list(items)
    step = len(items) / at_most
    return [items[int(i * step)] for i in range(at_most)]


def timing_dependent(steps: Sequence[Step]) -> bool:
    """Whether a trace uses a fault whose moment is left to timing (a nemesis with no crash
    point), so its verdict may need more than one replay; injected faults and crash points
    strike at the same place every time."""
    placed = (*INJECTED_FAULTS, crash_states.CRASH)
    return any(step.fault is not None and step.fault not in placed and step.at is None for step in steps)


def describe(step: Step) -> str:
    """One readable line per step, for replay output and failure reports."""
    op = step.op
    fields = {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}
    if isinstance(op, StoreBatch):
        fields = {"items": len(op.items), "bulk": op.bulk}
    text = f"{op.kind}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"
    if step.at is not None:
        return text + f" under fault {step.fault} at {step.at.point} k={step.at.k}"
    return text + (f" under fault {step.fault}" if step.fault else "")


def _unique(what: str, ids: list[str], rows: Sequence) -> dict:
    """A scan's rows by id; an id it returned twice is a violation (a duplicated record)."""
    _no_repeats(what, ids)
    return dict(zip(ids, rows))


def _no_repeats(what: str, ids: list[str]) -> None:
    """An id a scan returned twice is a violation (a duplicated record)."""
    if len(set(ids)) != len(ids):
        repeated = next(id for id, n in collections.Counter(ids).items() if n > 1)
        raise ContractViolation(f"{what} returned id {repeated!r} more than once", 1, ids.count(repeated))


def _holds_exactly(ids: list[str], matrix: np.ndarray, oracle: SimVectorBackend, expected: int) -> bool:
    """Whether a scan of no repeated and no extra ids holds exactly the oracle's ``expected``
    records, bit for bit (``-0.0`` and ``0.0`` differ, a NaN equals itself), in one comparison
    of its matrix with the oracle's vectors in the scan's order (no copy row by row)."""
    if len(ids) != expected:
        return False
    return not ids or np.array_equal(matrix.view(np.uint32), oracle.vectors(ids).view(np.uint32))
