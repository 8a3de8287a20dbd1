"""The operation model: every step of a trace is a small frozen dataclass of plain data.

Operations carry concrete ids and embedding recipes (never raw vectors), so a trace is small,
exact, and replays with no Hypothesis involved. ``Step`` pairs an operation with the fault
injected into it, if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from umi_dst.filter_ops import (
    FILTER_OPERATIONS,
    DeleteWhere,
    FilteredSearch,
    GetMetadata,
    StoreBatchTagged,
    StoreTagged,
)
from umi_dst.recipes import Recipe, random_matrix


@dataclass(frozen=True, slots=True)
class Bulk:
    """``count`` generated items from one seed; ids repeat (``distinct`` of them) on purpose."""

    seed: int
    count: int
    distinct: int

    def ids(self) -> list[str]:
        picks = np.random.default_rng([self.seed, 1]).integers(0, self.distinct, self.count)
        return [f"bulk-{self.seed}-{pick}" for pick in picks.tolist()]

    def vectors(self, dim: int) -> np.ndarray:
        return random_matrix(self.seed, self.count, dim)


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    embedding: Recipe
    kind: ClassVar[str] = "store"


@dataclass(frozen=True, slots=True)
class StoreBatch:
    """Explicit items first, then the bulk items; the last of a repeated id wins."""

    items: tuple[tuple[str, Recipe], ...]
    bulk: Bulk | None = None
    kind: ClassVar[str] = "store_batch"


@dataclass(frozen=True, slots=True)
class Delete:
    id: str
    kind: ClassVar[str] = "delete"


@dataclass(frozen=True, slots=True)
class Get:
    id: str
    kind: ClassVar[str] = "get"


@dataclass(frozen=True, slots=True)
class Exists:
    id: str
    kind: ClassVar[str] = "exists"


@dataclass(frozen=True, slots=True)
class Count:
    kind: ClassVar[str] = "count"


@dataclass(frozen=True, slots=True)
class Search:
    query: Recipe
    limit: int
    kind: ClassVar[str] = "search"


@dataclass(frozen=True, slots=True)
class Invalid:
    """A call with one defect in its input (see ``invalid.DEFECTS``): must raise and change nothing."""

    call: str
    defect: str
    kind: ClassVar[str] = "invalid"


@dataclass(frozen=True, slots=True)
class Reopen:
    """Close the connection and open a new one to the same store."""

    kind: ClassVar[str] = "reopen"


@dataclass(frozen=True, slots=True)
class Abandon:
    """Drop the connection without closing it, then open a new one."""

    kind: ClassVar[str] = "abandon"


@dataclass(frozen=True, slots=True)
class Maintain:
    """One of the backend's declared maintenance operations (an index build, a compaction, a
    clean-up of old versions, a vacuum): run like a write, faults included, yet changing no
    result (docs/maintenance.md)."""

    operation: str
    kind: ClassVar[str] = "maintain"


@dataclass(frozen=True, slots=True)
class Schedule:
    """Set one of the backend's automatic schedules (how often it compacts, when it builds its
    index) for the connections opened from now on, and reopen: the seed names the regime."""

    setting: str
    value: int
    kind: ClassVar[str] = "schedule"


Write = Store | StoreBatch | Delete | StoreTagged | StoreBatchTagged | DeleteWhere
Operation = (
    Store
    | StoreBatch
    | Delete
    | Get
    | Exists
    | Count
    | Search
    | Invalid
    | Reopen
    | Abandon
    | Maintain
    | Schedule
    | StoreTagged
    | StoreBatchTagged
    | DeleteWhere
    | GetMetadata
    | FilteredSearch
)
OPERATION_KINDS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        Store,
        StoreBatch,
        Delete,
        Get,
        Exists,
        Count,
        Search,
        Invalid,
        Reopen,
        Abandon,
        Maintain,
        Schedule,
        *FILTER_OPERATIONS,
    )
}
READ_ONLY = (Get, Exists, Count, Search, Invalid, GetMetadata, FilteredSearch)
"""Operations that never change a correct store's content."""


def rows_written(op: Operation) -> int:
    """Records ``op`` hands the backend to write: one for a store or a delete, every item of a
    batch (explicit and bulk), none for a read."""
    if isinstance(op, StoreBatch):
        return len(op.items) + (op.bulk.count if op.bulk else 0)
    if isinstance(op, StoreBatchTagged):
        return len(op.items)
    return 1 if isinstance(op, (Store, Delete, StoreTagged)) else 0


MAX_CRASH_K = 1_000_000
"""Bound on a crash point's count, so a seed cannot ask for an absurd one."""


@dataclass(frozen=True, slots=True)
class CrashPoint:
    """Where inside a write a fault strikes: a named point and a count at it (file operations
    done, rows streamed), so the fault lands at the same moment on every replay."""

    point: str
    k: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """One operation, the fault injected into it (an injected fault or a nemesis name) and,
    for a fault that strikes inside the write, its crash point."""

    op: Operation
    fault: str | None = None
    at: CrashPoint | None = None
