"""Is a concurrent history linearizable against the Sim model? And if not, why not?

The search is Wing & Gong's, with Lowe's memoisation: extend a linearization one call at a
time, choosing among the calls that no pending call must precede (real-time order); apply
the call to the model and keep it if its recorded result matches; backtrack otherwise. A
configuration (set of calls linearized, model state) is explored once. The model state is
hashed incrementally: the XOR of a 64-bit digest of every ``(id, vector bytes)`` record, so a
write changes the hash in O(1) and a configuration costs one integer pair to remember.

Results are judged by the same checks the sequential harness uses (``umi_dst.checking.checks``), so
search tolerance and tie rules are the contract's. An indeterminate write is never required:
it may take effect at any moment after its invocation, or never.

A failure is explained by a small set of calls that cannot be ordered: candidates are the
calls touching one record (a failure there is a failure of the whole) and the history cut at
its first failure (linearizability is closed under prefixes); in each, every call not needed
for the failure is relaxed (a read dropped, a write made indeterminate), and the smallest core
wins. Relaxing only removes constraints, so what remains fails for a reason the full history
also has. The core is minimal (relaxing any one of its calls makes the rest orderable), though
not always the smallest possible.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.checking import checks
from umi_dst.checking.checks import ContractViolation
from umi_dst.concurrency.history import Call, History
from umi_dst.contract import Embedding, WriteCall
from umi_dst.validation import last_wins


@dataclass(frozen=True)
class Verdict:
    linearizable: bool
    states: int
    """Configurations explored (the search's cost)."""
    order: tuple[int, ...] | None = None
    """Indices of the calls in a valid linearization (indeterminate writes left out never landed)."""


class NotLinearizable(ContractViolation):
    """No order of the calls, consistent with real time, matches the model; ``core`` explains it."""

    SHOWN_WRITES = 8

    def __init__(self, history: History, core: list[int], optional: list[int]) -> None:
        def lines(indices: list[int]) -> list[str]:
            return [history.describe(i) for i in sorted(indices, key=lambda i: history.calls[i].invoked)]

        these = "this call cannot be ordered" if len(core) == 1 else f"these {len(core)} calls cannot be ordered"
        message = (
            f"history of {len(history.calls)} calls by {history.clients} clients is not linearizable: {these}, "
            f"starting from the {len(history.initial)} records the prefix left:\n  " + "\n  ".join(lines(core))
        )
        relevant = [i for i in optional if _touches(history.calls[i], _ids_read(history, core))]
        if relevant:
            shown = lines(relevant)[: self.SHOWN_WRITES]
            more = f" ({len(relevant) - len(shown)} more)" if len(relevant) > len(shown) else ""
            message += (
                "\neven if each of these writes, to records those calls read, took effect at any moment after it began, or never"
                f"{more}:\n  " + "\n  ".join(shown)
            )
        super().__init__(message, "a linearizable history", lines(core))
        self.core = core
        self.optional = optional


def check(history: History, *, atol: float, exact: bool) -> Verdict:
    """Return the verdict for a linearizable history; raise ``NotLinearizable`` otherwise."""
    verdict = decide(history, atol=atol, exact=exact)
    if not verdict.linearizable:
        core, optional = explain(history, atol=atol, exact=exact)
        raise NotLinearizable(history, core, optional)
    return verdict


def decide(
    history: History,
    *,
    atol: float,
    exact: bool,
    dropped: Collection[int] = (),
    optional: Collection[int] = (),
    max_states: int | None = None,
) -> Verdict:
    """Search for a linearization. ``dropped`` calls are ignored; ``optional`` writes are
    treated as indeterminate (both used to explain a failure). Past ``max_states``
    configurations the search gives up with ``SearchBudgetExceeded``."""
    return _Search(history, atol, exact, set(dropped), set(optional), max_states).run()


class SearchBudgetExceeded(RuntimeError):
    """The search visited more configurations than it was allowed; no verdict."""


EXPLAIN_BUDGET = 20_000
"""Configurations each search may visit while explaining. Relaxed writes may land at any later
moment, which multiplies configurations; a search over budget leaves its call in the core,
so the explanation stays sound, only less small."""


def explain(history: History, *, atol: float, exact: bool) -> tuple[list[int], list[int]]:
    """The calls that cannot be ordered, and the writes left free to land or not.

    First each record on its own: the calls that touch only it (no count or search) form a
    sub-history whose failure the whole history shares, since those calls observe nothing
    else. Then the history cut at its first failure. Each failing candidate is relaxed,
    latest calls first, and the smallest core wins.
    """
    calls = history.calls
    silent = {i for i, call in enumerate(calls) if call.left_out}
    indeterminate = {i for i, call in enumerate(calls) if call.indeterminate}

    def fails(drop: set[int], relax: set[int]) -> bool:
        try:
            verdict = decide(history, atol=atol, exact=exact, dropped=drop, optional=relax, max_states=EXPLAIN_BUDGET)
        except SearchBudgetExceeded:
            return False
        return not verdict.linearizable

    def relaxed(drop: set[int], relax: set[int]) -> tuple[list[int], list[int]]:
        """Relax every call whose relaxing keeps the failure (a read dropped, a write optional)."""
        for i in sorted(range(len(calls)), key=lambda i: calls[i].invoked, reverse=True):
            if i in drop or i in relax:
                continue
            tried = (drop | {i}, relax) if not calls[i].is_write else (drop, relax | {i})
            if fails(*tried):
                drop, relax = tried
        return [i for i in range(len(calls)) if i not in drop and i not in relax], sorted(relax)

    candidates = []
    for id in sorted(set().union(*map(_ids_of, calls))):
        drop = silent | {i for i, call in enumerate(calls) if id not in _ids_of(call)}
        if fails(drop, indeterminate):
            candidates.append(relaxed(drop, set(indeterminate)))
            if len(candidates[-1][0]) == 1:
                return candidates[-1]  # one call that fits no order: nothing smaller exists
    candidates.append(relaxed(*_first_failure(history, silent, indeterminate, fails)))
    return min(candidates, key=lambda found: len(found[0]))


def _first_failure(history: History, dropped: set[int], optional: set[int], fails) -> tuple[set[int], set[int]]:
    """The history cut at the first completion after which it already fails (linearizability
    is closed under prefixes): later calls gone, calls still running left pending."""

    def cut(at: int) -> tuple[set[int], set[int]]:
        drop, relax = set(dropped), set(optional)
        for i, call in enumerate(history.calls):
            if call.invoked > at or (call.completed > at and not call.is_write):
                drop.add(i)
            elif call.completed > at:
                relax.add(i)
        return drop, relax

    ends = sorted({call.completed for call in history.calls})
    low, high = 0, len(ends) - 1
    while low < high:
        middle = (low + high) // 2
        if fails(*cut(ends[middle])):
            high = middle
        else:
            low = middle + 1
    return cut(ends[low])


def _ids_of(call: Call) -> set[str]:
    if call.method in ("store", "store_batch", "delete"):
        return set(WriteCall(call.method, call.args).changed_ids())
    return {call.args[0]} if call.method in ("get", "exists") else set()


def _ids_read(history: History, core: list[int]) -> set[str] | None:
    """The ids the core's calls name; ``None`` when one of them reads every record."""
    if any(history.calls[i].method in ("count", "search") for i in core):
        return None
    return set().union(*(_ids_of(history.calls[i]) for i in core))


def _touches(call: Call, ids: set[str] | None) -> bool:
    return ids is None or bool(_ids_of(call) & ids)


# -- the model ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Record:
    vector: Embedding
    digest: int


def _record(id: str, vector: Embedding) -> _Record:
    data = id.encode("utf-8") + b"\x00" + np.asarray(vector, dtype=np.float32).tobytes()
    return _Record(vector, int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little"))


@dataclass
class _Model:
    """The Sim's state as ``id -> record``, with an incrementally updated hash."""

    records: dict[str, _Record] = field(default_factory=dict)
    hash: int = 0

    def put(self, id: str, record: _Record | None) -> _Record | None:
        """Set (or, with ``None``, remove) one record; return the one it replaced."""
        old = self.records.pop(id, None)
        if old is not None:
            self.hash ^= old.digest
        if record is not None:
            self.records[id] = record
            self.hash ^= record.digest
        return old


Effect = tuple[tuple[str, "_Record | None"], ...]
"""What a write does: each touched id and its new record (``None``: deleted)."""


def _effect(call: Call) -> Effect:
    if call.method == "store":
        id, vector = call.args
        return ((id, _record(id, vector)),)
    if call.method == "store_batch":
        return tuple((id, _record(id, vector)) for id, vector in last_wins(call.args[0]))
    if call.method == "delete":
        return ((call.args[0], None),)
    return ()


class _Search:
    def __init__(
        self, history: History, atol: float, exact: bool, dropped: set[int], optional: set[int], max_states: int | None
    ) -> None:
        self.history = history
        self.max_states = max_states
        self.atol = atol
        self.exact = exact
        silent = {i for i, call in enumerate(history.calls) if call.left_out}
        self.calls = [(i, call) for i, call in enumerate(history.calls) if i not in dropped | silent]
        self.calls.sort(key=lambda pair: pair[1].invoked)
        self.optional = {i for i, call in self.calls if call.indeterminate or i in optional}
        self.effects = {i: _effect(call) for i, call in self.calls}
        self.required = sum(1 << i for i, _ in self.calls if i not in self.optional)
        self.model = _Model()
        for id, vector in history.initial.items():
            self.model.put(id, _record(id, vector))
        self._search_verdicts: dict[tuple[int, int], bool] = {}

    def run(self) -> Verdict:
        seen: set[tuple[int, int]] = set()
        mask = 0
        path: list[tuple[int, list[tuple[str, _Record | None]]]] = []
        frontier = [iter(self._candidates(mask))]
        while frontier:
            if mask & self.required == self.required:
                return Verdict(True, len(seen), tuple(i for i, _ in path))
            for i in frontier[-1]:
                undo = self._apply(i)
                if undo is None:
                    continue
                key = (mask | 1 << i, self.model.hash)
                if key in seen:
                    self._undo(undo)
                    continue
                seen.add(key)
                if self.max_states is not None and len(seen) > self.max_states:
                    raise SearchBudgetExceeded(f"more than {self.max_states} configurations")
                path.append((i, undo))
                mask |= 1 << i
                frontier.append(iter(self._candidates(mask)))
                break
            else:
                frontier.pop()
                if path:
                    i, undo = path.pop()
                    self._undo(undo)
                    mask &= ~(1 << i)
        return Verdict(False, len(seen))

    def _candidates(self, mask: int) -> list[int]:
        """Calls not yet linearized that no other such call must precede."""
        pending = [(i, call) for i, call in self.calls if not mask >> i & 1]
        deadline = min((call.completed for i, call in pending if i not in self.optional), default=math.inf)
        return [i for i, call in pending if call.invoked <= deadline]

    def _apply(self, i: int) -> list[tuple[str, _Record | None]] | None:
        """Linearize call ``i`` now if its result matches the model; return how to undo it."""
        call = self.history.calls[i]
        if i not in self.optional and not self._matches(i, call):
            return None
        return [(id, self.model.put(id, record)) for id, record in self.effects[i]]

    def _undo(self, undo: list[tuple[str, _Record | None]]) -> None:
        for id, old in reversed(undo):
            self.model.put(id, old)

    def _matches(self, i: int, call: Call) -> bool:
        records = self.model.records
        try:
            if call.method in ("store", "store_batch"):
                checks.equal(call.method, call.value, None)
            elif call.method == "delete":
                checks.equal("delete", call.value, call.args[0] in records)
            elif call.method == "exists":
                checks.equal("exists", call.value, call.args[0] in records)
            elif call.method == "count":
                checks.equal("count", call.value, len(records))
            elif call.method == "get":
                stored = records.get(call.args[0])
                checks.bit_exact("get", call.value, None if stored is None else stored.vector)
            elif call.method == "search":
                return self._search_matches(i, call)
            elif call.method == "maintain":
                checks.equal("maintain", call.value, None)  # no effect on the model (``_effect``): it changes no result
            else:
                raise TypeError(f"no model for {call.method!r}")
        except ContractViolation:
            return False
        return True

    def _search_matches(self, i: int, call: Call) -> bool:
        key = (i, self.model.hash)
        if key not in self._search_verdicts:
            self._search_verdicts[key] = self._search_ok(call)
        return self._search_verdicts[key]

    def _search_ok(self, call: Call) -> bool:
        """Score every record exactly as the sequential oracle does, then apply its check."""
        query, limit = call.args
        oracle = SimVectorBackend(self.history.dim)
        oracle.store_batch([(id, record.vector) for id, record in self.model.records.items()])
        ids, scores = oracle.scores(query)
        try:
            checks.search_results(call.value, ids, scores, limit, self.atol, self.exact)
        except ContractViolation:
            return False
        return True
