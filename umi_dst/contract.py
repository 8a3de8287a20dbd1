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

CONTRACT_VERSION = 1
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


@dataclass(frozen=True, slots=True)
class WriteCall:
    """A write handed to a nemesis: it may run it here, in another process, or not at all.

    ``method`` is ``"store"``, ``"store_batch"`` or ``"delete"``; ``args`` are the call's
    positional arguments, plain data (str and numpy arrays) so they can cross a process.
    """

    method: str
    args: tuple

    def apply(self, backend: VectorBackend) -> object:
        return getattr(backend, self.method)(*self.args)


class Nemesis(Protocol):
    """A named, backend-specific real fault (kill the server, kill a writer, ...).

    ``disturb`` performs ``call`` on ``backend`` while the fault happens. It may raise: the
    outcome is then indeterminate and the harness reads the ids back (CONTRACT §4). After
    it returns or raises, the harness heals the fault and continues on a fresh ``open()``.

    A nemesis that can strike at exact points of a write also declares ``points`` (names),
    ``strike(backend, call, at: CrashPoint)`` (perform ``call`` with the fault at ``at``) and
    ``expected(at) -> "old" | "new"``, the one state a fresh connection must then read. The
    machine draws a crash point for it, so its seeds replay the same fault every time.
    """

    name: str

    def disturb(self, backend: VectorBackend, call: WriteCall) -> None: ...

    def heal(self) -> None: ...


class BackendFactory(Protocol):
    """Opens connections to one store and declares what the backend promises (CONTRACT §6).

    Optional: ``data_dir: Path``, the directory that holds all of the store's files, for a
    store kept as files (an embedded engine). Declaring it gives the backend the harness fault
    ``crash``: every crash state of a write is rebuilt in that directory and checked
    (``umi_dst.crash_states``), with no nemesis to write.
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
