"""Planted bugs that only show at some shapes: a dimension, or a long run of writes.

A campaign pinned to one small dimension with short test cases never meets them; the default
campaign (dimensions drawn per test case, some cases long) must. Each name is a module
attribute holding its builder, so ``umi_dst.selftest.shape_mutants:<name>`` is a backend spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umi_dst.backends.sim import SimFactory, SimVectorBackend
from umi_dst.contract import Embedding, SearchResult
from umi_dst.validation import validate_batch, validate_embedding, validate_id, validate_limit

SIMD_LANES = 8
TRUNCATED_DIM = 1024
CONNECTION_BUFFER = 255


class IgnoresSimdTail(SimVectorBackend):
    """Scores with a vector kernel of 8 lanes that has no scalar tail loop: components past the
    last multiple of 8 are left out, so every dimension that is not a multiple of 8 scores wrong."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        limit = validate_limit(limit)
        q = validate_embedding(query, self.dim, "query").astype(np.float64)
        n, lanes = len(self._ids), self.dim - self.dim % SIMD_LANES
        stored = self._raw[:n, :lanes].astype(np.float64)
        norms = np.linalg.norm(stored, axis=1) * np.linalg.norm(q[:lanes])
        with np.errstate(all="ignore"):
            scores = np.where(norms > 0, stored @ q[:lanes] / np.where(norms > 0, norms, 1.0), 0.0)
        ranked = sorted(range(n), key=lambda slot: (-scores[slot], self._ids[slot]))[:limit]
        return [SearchResult(self._ids[slot], float(scores[slot])) for slot in ranked]


class TruncatesAbove1024(SimVectorBackend):
    """Keeps only the first 1024 components of larger embeddings (an index type's old limit),
    zero-filling the rest: 1536-dimensional embeddings no longer round-trip."""

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        if self.dim > TRUNCATED_DIM:
            vectors = vectors.copy()
            vectors[:, TRUNCATED_DIM:] = 0.0
            vectors[:, 0] += np.float32(vectors[:, 0] == 0)  # keep a valid norm
        super()._put_many(ids, vectors)


class _BufferedConnection:
    """A connection whose write buffer holds 255 writes: the 256th store or batch through the
    same connection overflows it and is acknowledged but never applied."""

    def __init__(self, store: SimVectorBackend) -> None:
        self._store = store
        self._writes = 0

    def _overflows(self) -> bool:
        self._writes += 1
        return self._writes % (CONNECTION_BUFFER + 1) == 0

    def store(self, id: str, embedding: Embedding) -> None:
        validate_id(id)
        validate_embedding(embedding, self._store.dim)
        if not self._overflows():
            self._store.store(id, embedding)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        validate_batch(items, self._store.dim)
        if not self._overflows():
            self._store.store_batch(items)

    def delete(self, id: str) -> bool:
        return self._store.delete(id)

    def get(self, id: str) -> Embedding | None:
        return self._store.get(id)

    def exists(self, id: str) -> bool:
        return self._store.exists(id)

    def count(self) -> int:
        return self._store.count()

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return self._store.search(query, limit)

    def close(self) -> None:
        return None


@dataclass
class _BufferedFactory(SimFactory):
    def open(self) -> _BufferedConnection:
        return _BufferedConnection(super().open())


def ignores_simd_tail(workdir: Path, dim: int) -> SimFactory:
    return SimFactory(dim=dim, name="mutant:ignores_simd_tail", backend_class=IgnoresSimdTail)


def truncates_above_1024(workdir: Path, dim: int) -> SimFactory:
    return SimFactory(dim=dim, name="mutant:truncates_above_1024", backend_class=TruncatesAbove1024)


def loses_write_256_on_a_connection(workdir: Path, dim: int) -> SimFactory:
    return _BufferedFactory(dim=dim, name="mutant:loses_write_256_on_a_connection")


SHAPE_MUTANTS = {
    "ignores_simd_tail": "a dimension that is not a multiple of 8",
    "truncates_above_1024": "a dimension above 1024",
    "loses_write_256_on_a_connection": "256 writes through one connection",
}
"""Each mutant's name and the shape that reveals it."""
