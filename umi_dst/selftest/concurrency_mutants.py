"""Planted concurrency bugs: stores that pass every sequential test but break under concurrent
connections, to prove the parallel mode finds races. And the correct Sim behind a lock.

All connections of one factory share one ``SimVectorBackend`` and one lock, as connections to
one server share its tables. Every call first makes a simulated network round trip (outside
the lock), and each buggy write holds its critical window open, where a real store would be
waiting on disk or the network. The factory declares ``turns`` (``umi_dst.concurrency.turns``): in the
parallel mode its clients run one at a time and hand the turn on at each round trip, and a
window stays open until another client makes the call that meets the race (or every other
client has finished), so a program's verdict never depends on how the machine scheduled the
threads. Free threads (an exported script's) sleep ``ROUND_TRIP`` and ``RACE_WINDOW`` instead.

Specs: ``umi_dst.selftest.concurrency_mutants:locked_sim`` (correct) and
``umi_dst.selftest.concurrency_mutants:<name>`` for each name in ``CONCURRENCY_MUTANTS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.concurrency.turns import Turns
from umi_dst.contract import DEFAULT_SCORE_ATOL, Embedding, Nemesis, SearchResult
from umi_dst.validation import last_wins, validate_batch, validate_embedding, validate_id

ROUND_TRIP = 0.0002
RACE_WINDOW = 0.01
"""What a free thread sleeps in a write's window: longer than a scheduler's time slice."""
REWRITE = "rewrite"
"""How a read-modify-write's load of the whole store shows in ``SharedStore.calls``."""


class SharedStore:
    """The one store every connection of a factory reaches, the lock that guards it, and the
    turns its clients take."""

    def __init__(self, dim: int) -> None:
        self.sim = SimVectorBackend(dim)
        self.lock = threading.Lock()
        self.turns = Turns()
        self.calls: list[tuple[str, tuple]] = []
        """Every call made on the store, in order: what a race window waits for."""

    def __call__(self, method: str, *args):
        """One atomic call on the store, after a round trip."""
        self.round_trip()
        with self.lock:
            self.calls.append((method, args))
            return getattr(self.sim, method)(*args)

    def round_trip(self) -> None:
        self.turns.pause(ROUND_TRIP)

    def race_window(self, meets: Callable[[str, tuple], bool]) -> None:
        """A buggy write's window between its two steps, open until another client makes a
        call that ``meets`` the race."""
        opened = len(self.calls)
        self.turns.pause_until(RACE_WINDOW, lambda: any(meets(*call) for call in self.calls[opened:]))


class LockedConnection:
    """A correct connection: every call is one atomic call on the shared store."""

    def __init__(self, shared: SharedStore) -> None:
        self.shared = shared
        self.dim = shared.sim.dim

    def store(self, id: str, embedding: Embedding) -> None:
        return self.shared("store", id, embedding)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        return self.shared("store_batch", items)

    def delete(self, id: str) -> bool:
        return self.shared("delete", id)

    def get(self, id: str) -> Embedding | None:
        return self.shared("get", id)

    def exists(self, id: str) -> bool:
        return self.shared("exists", id)

    def count(self) -> int:
        return self.shared("count")

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return self.shared("search", query, limit)

    def close(self) -> None:
        """Nothing to release: the store outlives its connections."""


class DeleteThenInsertUpsert(LockedConnection):
    """Upserts by deleting the old rows and inserting the new ones in two separate commits,
    so a concurrent reader can see a stored id missing."""

    def store(self, id: str, embedding: Embedding) -> None:
        self._replace([(validate_id(id), validate_embedding(embedding, self.dim))])

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        self._replace(last_wins(validate_batch(items, self.dim)))

    def _replace(self, items: list[tuple[str, Embedding]]) -> None:
        if not items:
            return
        for id, _ in items:
            self.shared("delete", id)
        replaced = {id for id, _ in items}
        self.shared.race_window(
            lambda method, args: method in ("count", "search") or (method in ("get", "exists") and args[0] in replaced)
        )
        self.shared("store_batch", items)


class ReadModifyWriteStore(LockedConnection):
    """Each write loads the whole store, changes its copy and saves the copy back (a naive
    file-backed store): a write that another connection saves in between is lost."""

    def store(self, id: str, embedding: Embedding) -> None:
        self._rewrite([(validate_id(id), validate_embedding(embedding, self.dim))], [])

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if checked:
            self._rewrite(checked, [])

    def delete(self, id: str) -> bool:
        return self._rewrite([], [validate_id(id)])

    def _rewrite(self, puts: list[tuple[str, Embedding]], deletes: list[str]) -> bool:
        self.shared.round_trip()
        with self.shared.lock:
            self.shared.calls.append((REWRITE, ()))
            sim = self.shared.sim
            snapshot = {id: sim.get(id) for id in sim.ids()}
        existed = any(id in snapshot for id in deletes)
        for id in deletes:
            snapshot.pop(id, None)
        snapshot.update(puts)
        self.shared.race_window(lambda method, args: method == REWRITE)
        saved = SimVectorBackend(self.dim)
        saved.store_batch(list(snapshot.items()))
        with self.shared.lock:
            self.shared.sim = saved
        return existed


class CountCachedAcrossCommits(LockedConnection):
    """Reads the count once, when the connection opens (as a table handle caches its
    metadata), and adjusts it only for this connection's own writes: other connections'
    commits go unseen."""

    def __init__(self, shared: SharedStore) -> None:
        super().__init__(shared)
        self._count = shared("count")

    def count(self) -> int:
        self.shared.round_trip()
        return self._count

    def store(self, id: str, embedding: Embedding) -> None:
        self._counted_write("store", [validate_id(id)], id, embedding)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        ids = [id for id, _ in last_wins(validate_batch(items, self.dim))]
        self._counted_write("store_batch", ids, items)

    def delete(self, id: str) -> bool:
        removed = super().delete(id)
        self._count -= removed
        return removed

    def _counted_write(self, method: str, ids: list[str], *args) -> None:
        new = sum(not self.shared("exists", id) for id in ids)
        self.shared(method, *args)
        self._count += new


@dataclass
class SharedSimFactory:
    """Connections of one class to one shared, locked Sim store."""

    dim: int
    connection_class: type[LockedConnection] = LockedConnection
    name: str = "locked-sim"
    score_atol: float = DEFAULT_SCORE_ATOL
    approximate: bool = False
    recall_floor: float | None = None
    nemeses: Mapping[str, Nemesis] = field(default_factory=dict)
    shared: SharedStore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.shared = SharedStore(self.dim)

    @property
    def turns(self) -> Turns:
        return self.shared.turns

    def open(self) -> LockedConnection:
        return self.connection_class(self.shared)

    def destroy(self) -> None:
        self.shared = SharedStore(self.dim)

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}


CONCURRENCY_MUTANTS: dict[str, type[LockedConnection]] = {
    "delete_then_insert_upsert": DeleteThenInsertUpsert,
    "read_modify_write_store": ReadModifyWriteStore,
    "count_cached_across_commits": CountCachedAcrossCommits,
}


def _builder(name: str, connection_class: type[LockedConnection]):
    def build(workdir: Path, dim: int) -> SharedSimFactory:
        return SharedSimFactory(dim=dim, connection_class=connection_class, name=name)

    build.__name__ = name
    return build


locked_sim = _builder("locked_sim", LockedConnection)
globals().update({name: _builder(name, cls) for name, cls in CONCURRENCY_MUTANTS.items()})
