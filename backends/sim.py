"""SimVectorBackend: the exact, deterministic in-memory backend that serves as the oracle.

Records live in slots of two contiguous matrices: the stored float32 vectors (for bit-exact
``get``) and their float64 unit vectors (for search). A store appends or overwrites a slot, a
delete moves the last slot into the hole, so writes are amortised O(1) and search is one
matrix-vector product over a contiguous block. Ties are broken by id, so the output never
depends on insertion or hash order. Each record also carries its metadata (docs/filters.md),
and a filtered search ranks only the records ``umi_dst.filters.matches`` selects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from umi_dst.checking.faults import FaultPlan
from umi_dst.contract import DEFAULT_SCORE_ATOL, Embedding, Nemesis, SearchResult
from umi_dst.filters import MATCH_ALL, matches, parse_filter
from umi_dst.metadata import Metadata, split_batch, validate_metadata
from umi_dst.validation import (
    last_wins,
    validate_batch,
    validate_dim,
    validate_embedding,
    validate_id,
    validate_limit,
)

_INITIAL_CAPACITY = 16


class SimVectorBackend:
    """Exact cosine search in float64 over stored float32 vectors.

    ``fault_plan`` optionally injects seeded failures into writes, so code built on top of a
    vector store can be tested against errors that happen before or after a write lands.
    """

    def __init__(self, dim: int, fault_plan: FaultPlan | None = None) -> None:
        self.dim = validate_dim(dim)
        self.fault_plan = fault_plan
        self._ids: list[str] = []
        self._slot: dict[str, int] = {}
        self._raw = np.empty((_INITIAL_CAPACITY, dim), dtype=np.float32)
        self._unit = np.empty((_INITIAL_CAPACITY, dim), dtype=np.float64)
        self._metadata: dict[str, Metadata] = {}

    def __repr__(self) -> str:
        return f"SimVectorBackend(dim={self.dim}, count={len(self._ids)})"

    # -- writes -------------------------------------------------------------------------
    def store(self, id: str, embedding: Embedding, metadata: Metadata | None = None) -> None:
        id = validate_id(id)
        vector = validate_embedding(embedding, self.dim)
        kept = validate_metadata(metadata)
        self._write(lambda: self._put_with_metadata([id], vector[np.newaxis], [kept]))

    def store_batch(self, items: Sequence[tuple]) -> None:
        pairs, metadatas = split_batch(items)
        latest = dict(zip((id for id, _ in pairs), metadatas))
        checked = last_wins(validate_batch(pairs, self.dim))
        if checked:
            ids = [id for id, _ in checked]
            self._write(
                lambda: self._put_with_metadata(ids, np.stack([v for _, v in checked]), [latest[id] for id in ids])
            )

    def delete_where(self, filter: dict) -> int:
        """Delete every record the filter selects, in one write; return how many."""
        node = parse_filter(filter)
        doomed = [id for id in self._ids if matches(node, self._metadata.get(id, {}))]
        return int(self._write(lambda: sum(self._remove(id) for id in doomed)))

    def _put_with_metadata(self, ids: list[str], vectors: np.ndarray, metadatas: list[Metadata]) -> None:
        self._put_many(ids, vectors)
        for id, metadata in zip(ids, metadatas):
            self._store_metadata(id, metadata)

    def _store_metadata(self, id: str, metadata: Metadata) -> None:
        """Replace the record's metadata whole (an upsert keeps nothing of the old one)."""
        self._metadata[id] = metadata

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        return bool(self._write(lambda: self._remove(id)))

    def _write(self, apply):
        if self.fault_plan is None:
            return apply()
        return self.fault_plan.around_write(apply)

    def _put(self, id: str, vector: Embedding) -> None:
        self._put_many([id], vector[np.newaxis])

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        """Write distinct ids in one vectorised assignment: overwrite or append a slot each."""
        self._reserve(len(self._ids) + len(ids))
        slots = []
        for id in ids:
            slot = self._slot.get(id)
            if slot is None:
                slot = self._slot[id] = len(self._ids)
                self._ids.append(id)
            slots.append(slot)
        wide = vectors.astype(np.float64)
        self._raw[slots] = vectors
        self._unit[slots] = wide / np.linalg.norm(wide, axis=1, keepdims=True)

    def _remove(self, id: str) -> bool:
        slot = self._slot.pop(id, None)
        if slot is None:
            return False
        self._metadata.pop(id, None)
        last = len(self._ids) - 1
        if slot != last:
            moved = self._ids[last]
            self._ids[slot] = moved
            self._slot[moved] = slot
            self._raw[slot] = self._raw[last]
            self._unit[slot] = self._unit[last]
        self._ids.pop()
        return True

    def _reserve(self, needed: int) -> None:
        capacity = self._raw.shape[0]
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        for name in ("_raw", "_unit"):
            old = getattr(self, name)
            grown = np.empty((capacity, self.dim), dtype=old.dtype)
            grown[: len(self._ids)] = old[: len(self._ids)]
            setattr(self, name, grown)

    # -- reads --------------------------------------------------------------------------
    def get(self, id: str) -> Embedding | None:
        slot = self._slot.get(validate_id(id))
        return None if slot is None else self._raw[slot].copy()

    def get_metadata(self, id: str) -> Metadata | None:
        id = validate_id(id)
        return dict(self._metadata.get(id, {})) if id in self._slot else None

    def exists(self, id: str) -> bool:
        return validate_id(id) in self._slot

    def count(self) -> int:
        return len(self._ids)

    def ids(self) -> list[str]:
        """Every stored id, sorted (oracle use)."""
        return sorted(self._ids)

    def vectors(self, ids: list[str]) -> np.ndarray:
        """The stored float32 vectors of ``ids`` (all stored), row for row (oracle use)."""
        return self._raw[[self._slot[id] for id in ids]]

    def scores(self, query: Embedding) -> tuple[list[str], np.ndarray]:
        """Cosine of ``query`` against every record, in slot order (oracle use)."""
        q = validate_embedding(query, self.dim, "query").astype(np.float64)
        n = len(self._ids)
        return self._ids[:n], self._unit[:n] @ (q / np.linalg.norm(q))

    def matching(self, filter: dict | None) -> np.ndarray:
        """The slots of the records ``filter`` selects, ascending (oracle use); ``None`` selects all."""
        node = MATCH_ALL if filter is None else parse_filter(filter)
        n = len(self._ids)
        if node == MATCH_ALL:
            return np.arange(n)
        return np.array(
            [slot for slot in range(n) if matches(node, self._metadata.get(self._ids[slot], {}))], dtype=np.intp
        )

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        limit = validate_limit(limit)
        ids, scores = self.scores(query)
        if filter is not None:  # ranks the records the filter selects; ``scores`` may hold more
            selected = self.matching(filter)
            ids, scores = [ids[slot] for slot in selected], scores[selected]
        n = len(ids)
        if n == 0:
            return []
        k = min(limit, n)
        # Everything scoring at least the k-th best is a candidate, so ties at the cut-off
        # are resolved by id rather than by slot order.
        kth = np.partition(scores, n - k)[n - k] if k < n else scores.min()
        candidates = np.flatnonzero(scores >= kth)
        ranked = sorted(candidates.tolist(), key=lambda slot: (-scores[slot], ids[slot]))[:k]
        return [SearchResult(ids[slot], float(scores[slot])) for slot in ranked]

    def close(self) -> None:
        """Nothing to release; the records live as long as the object."""


@dataclass
class SimFactory:
    """Hands out the same in-memory store on every ``open()``, as a durable store would."""

    dim: int
    name: str = "sim"
    score_atol: float = DEFAULT_SCORE_ATOL
    approximate: bool = False
    recall_floor: float | None = None
    nemeses: Mapping[str, Nemesis] = field(default_factory=dict)
    filters: bool = False
    """Whether the harness generates metadata and filters for it (docs/filters.md)."""
    fault_plan: FaultPlan | None = None
    backend_class: type[SimVectorBackend] = SimVectorBackend
    _store: SimVectorBackend | None = field(default=None, repr=False)
    shared_across_processes: ClassVar[bool] = False
    """The store is an object in this process: a client process would get a copy of it."""

    def open(self) -> SimVectorBackend:
        if self._store is None:
            self._store = self.backend_class(self.dim, self.fault_plan)
        return self._store

    def destroy(self) -> None:
        self._store = None

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}


def factory(workdir: Path, dim: int) -> SimFactory:
    """Registered builder for ``sim``: the store lives in memory, ``workdir`` is unused."""
    return SimFactory(dim=dim, filters=True)
