"""The public contract every backend meets (CONTRACT.md): types and protocols only.

A backend is reached through a factory, so the harness never knows how a store is made,
only how to open it, what it promises (tolerance, mode, recall floor) and which real faults
(nemeses) it can suffer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

MIN_DIM, MAX_DIM = 1, 2000
MAX_ID_LENGTH = 256
MAX_ABS_VALUE = 1e6
MIN_NORM = 1e-6
MAX_LIMIT = 10_000
DEFAULT_SCORE_ATOL = 1e-4

Embedding = np.ndarray
"""A float32 vector of shape ``(dim,)``."""


class InvalidInput(ValueError):
    """Bad input (id, embedding, query, limit or batch item); nothing was changed."""


class InjectedFault(RuntimeError):
    """An error the harness (or a seeded fault plan) raised on purpose."""


class MaintenanceRefused(RuntimeError):
    """A maintenance operation refused to start where it was called, so nothing of it ran
    (PostgreSQL's ``VACUUM`` inside the transaction block a crash point opened around it):
    coverage does not count it as cut off."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    id: str
    score: float


@runtime_checkable
class VectorBackend(Protocol):
    """One connection to one store of ``id -> embedding`` records (CONTRACT §2)."""

    def store(self, id: str, embedding: Embedding) -> None: ...

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None: ...

    def get(self, id: str) -> Embedding | None: ...

    def exists(self, id: str) -> bool: ...

    def delete(self, id: str) -> bool: ...

    def count(self) -> int: ...

    def search(self, query: Embedding, limit: int) -> list[SearchResult]: ...

    def close(self) -> None: ...


@runtime_checkable
class FullScan(Protocol):
    """Optional capability of a backend: read every record at once (CONTRACT §6).

    ``scan()`` returns every stored id and, row for row, its float32 embedding as one
    ``(count, dim)`` matrix, in any order. The harness compares every stored record with the
    oracle after a failed write and at the end of each test case; with ``scan`` that is one
    read (an Arrow table, a binary ``COPY``) instead of one ``get`` per id.
    """

    def scan(self) -> tuple[list[str], np.ndarray]: ...


@runtime_checkable
class FilteredBackend(Protocol):
    """Optional capability: records carry metadata and searches take filters (CONTRACT §8).

    Offered by a backend whose factory declares ``filters = True``; see docs/filters.md for
    the metadata a record may hold and the filter dialect (``umi_dst.filters``).
    """

    def store(self, id: str, embedding: Embedding, metadata: dict | None = None) -> None: ...

    def store_batch(self, items: Sequence[tuple]) -> None: ...

    def get_metadata(self, id: str) -> dict | None: ...

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]: ...

    def delete_where(self, filter: dict) -> int: ...


@runtime_checkable
class MetadataScan(Protocol):
    """Optional capability of a filtered backend: every record's metadata in one read.

    ``scan_metadata()`` returns every stored id and, row for row, its metadata as
    ``get_metadata`` would return it, in any order. The harness compares every record's
    metadata with the oracle's at the end of each test case; with it that is one read
    instead of one ``get_metadata`` per id.
    """

    def scan_metadata(self) -> tuple[list[str], list[dict]]: ...


def declares_filters(factory: object) -> bool:
    """Whether a factory declares the filter capability; factories that say nothing do not."""
    return getattr(factory, "filters", False) is True


@runtime_checkable
class Maintained(Protocol):
    """Optional capability: index and storage maintenance as calls (CONTRACT §9).

    Offered by a backend whose factory declares ``maintenance``, the names of the operations
    it supports (``build_index``, ``optimize``, ``cleanup_versions``, ``reindex``, ...).
    ``maintain(name)`` runs the engine's own call for one of them. A maintenance operation
    never changes a result: every read after it, whether it completed or was cut off, must
    answer as before (docs/maintenance.md). A backend whose index leaves recent rows outside
    it may also offer ``unindexed_rows() -> int | None``, for coverage.
    """

    def maintain(self, operation: str) -> None: ...


def declared_schedules(factory: object) -> dict[str, tuple[int, ...]]:
    """The automatic schedules a factory lets a case set, each with the values it may take.

    Optional: ``schedules`` (setting name -> values, Lance's ``compaction_every``, an index's
    ``index_min_rows``) and ``schedule(setting, value)``, which applies to the connections
    opened after it. A case that draws one runs a ``Schedule`` step, so its seed names the
    regime it reached (docs/maintenance.md)."""
    declared = getattr(factory, "schedules", {})
    return {name: tuple(values) for name, values in sorted(declared.items())}


def unindexed_rows(backend: object) -> int | None:
    """Rows the backend's searches now reach outside its ANN index, if it says (its optional
    ``unindexed_rows()``); ``None``: it does not say, or has no index to be outside of."""
    probe = getattr(backend, "unindexed_rows", None)
    return None if probe is None else probe()


def declared_maintenance(factory: object, attribute: str = "maintenance") -> tuple[str, ...]:
    """The maintenance operations a factory declares, sorted; factories that say nothing have none.
    ``attribute="concurrent_maintenance"``: those the parallel mode runs beside other clients."""
    declared = getattr(factory, attribute, ())
    if isinstance(declared, str) or not all(isinstance(name, str) and name for name in declared):
        name = getattr(factory, "name", type(factory).__name__)
        raise InvalidDeclaration(f"backend {name!r} declares {attribute} = {declared!r}; expected a tuple of names")
    return tuple(sorted(declared))


@dataclass(frozen=True, slots=True)
class WriteCall:
    """A write handed to a nemesis: it may run it here, in another process, or not at all.

    ``method`` is ``"store"``, ``"store_batch"``, ``"delete"``, ``"delete_where"`` or ``"maintain"``
    (a maintenance operation, run under faults like a write); ``args`` are the call's
    positional arguments, plain data (str and numpy arrays) so they can cross a process.
    """

    method: str
    args: tuple

    def apply(self, backend: VectorBackend) -> object:
        return getattr(backend, self.method)(*self.args)

    def changes(self) -> list[tuple[str, Embedding | None]]:
        """The ids this write changes, each with the vector it leaves (None: deleted). A
        ``delete_where`` changes the records its filter selects in the store it runs on, so it
        names none here (``filter_steps.changed_ids`` reads them from the oracle); a
        ``maintain`` changes none."""
        if self.method == "store_batch":
            return list(last_wins([(item[0], item[1]) for item in self.args[0]]))
        if self.method == "store":
            return [(self.args[0], self.args[1])]
        if self.method in ("delete_where", "maintain"):
            return []
        return [(self.args[0], None)]

    def changed_ids(self) -> list[str]:
        return [id for id, _ in self.changes()]


def last_wins(items: Sequence[tuple[str, Embedding]]) -> list[tuple[str, Embedding]]:
    """A batch as it lands: a repeated id takes its last embedding, in first-occurrence order."""
    latest: dict[str, Embedding] = {}
    for id, embedding in items:
        latest[id] = embedding
    return list(latest.items())


class Nemesis(Protocol):
    """A named, backend-specific real fault (kill the server, kill a writer, ...).

    ``disturb`` performs ``call`` on ``backend`` while the fault happens. It may raise: the
    outcome is then indeterminate and the harness reads the ids back (CONTRACT §4). After
    it returns or raises, the harness heals the fault and continues on a fresh ``open()``.

    A nemesis that can strike at exact points of a write also declares ``points`` (names),
    ``strike(backend, call, at: CrashPoint)`` (perform ``call`` with the fault at ``at``) and
    ``expected(at) -> "old" | "new" | None``, the one state a fresh connection must then read
    (``None``: either, never a mix). The machine draws a crash point for it, so its seeds
    replay the same fault every time. One that takes every connection of the store down with
    it (a crashed server) declares ``cuts_off_other_connections = True``: in a concurrent
    history, the calls other clients had in flight then count as cut off, not as failures.

    A write that completes is checked like any other, return value included; a nemesis that
    also performs the same write itself, concurrently (at-least-once delivery), says so with
    ``duplicates_write = True``, and the answer of a second delivery is then accepted too
    (``delete`` may find the record already gone).
    """

    name: str

    def disturb(self, backend: VectorBackend, call: WriteCall) -> None: ...

    def heal(self) -> None: ...


class BackendFactory(Protocol):
    """Opens connections to one store and declares what the backend promises (CONTRACT §6).

    Optional: ``data_dir: Path``, the directory that holds all of the store's files, for a
    store kept as files (an embedded engine). Declaring it gives the backend the harness fault
    ``crash``: every crash state of a write is rebuilt in that directory and checked
    (``umi_dst.checking.crash_states``), with no nemesis to write. Optional: ``turns``
    (``umi_dst.concurrency.turns.Turns``), for a simulated store: the parallel mode's thread clients then
    take turns where the store hands them on, so a program always interleaves the same way.

    The declarations are checked when the factory is built (``check_declarations``). A
    backend may also offer ``FullScan``, which makes the harness's complete reads cheap.
    """

    name: str
    dim: int
    score_atol: float
    approximate: bool
    recall_floor: float | None
    nemeses: Mapping[str, Nemesis]

    def open(self) -> VectorBackend: ...

    def destroy(self) -> None: ...


FactoryBuilder = Callable[[Path, int], BackendFactory]
"""What a backend spec names: builds a factory for a fresh store in a working directory."""


class InvalidDeclaration(ValueError):
    """A factory declares a promise the contract does not allow; it is refused when built."""


def check_declarations(factory: BackendFactory) -> BackendFactory:
    """Refuse a tolerance looser than the contract's, or approximate mode without a valid floor.

    A backend that may declare ``score_atol = 1.0`` passes with rescaled scores, and one in
    approximate mode without a floor passes with the worst records; so both are refused here,
    with the field and the contract's bound named (CONTRACT §3).
    """
    name = getattr(factory, "name", type(factory).__name__)
    atol = factory.score_atol
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol <= DEFAULT_SCORE_ATOL:
        raise InvalidDeclaration(
            f"backend {name!r} declares score_atol = {atol!r}; the contract allows a tolerance from 0 to "
            f"{DEFAULT_SCORE_ATOL:g} (CONTRACT §3), so declare {DEFAULT_SCORE_ATOL:g} or tighter"
        )
    floor = factory.recall_floor
    if factory.approximate and floor is None:
        raise InvalidDeclaration(
            f"backend {name!r} declares approximate mode with recall_floor = None; approximate mode needs a "
            "recall floor in (0, 1] (CONTRACT §3)"
        )
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 < floor <= 1):
        raise InvalidDeclaration(
            f"backend {name!r} declares recall_floor = {floor!r}; a recall floor must lie in (0, 1] (CONTRACT §3)"
        )
    return factory
