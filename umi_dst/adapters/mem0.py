"""Any mem0 ``VectorStoreBase`` as a backend: the store layer under agent-memory applications.

``Mem0Store(build=..., name=...)`` is itself a backend builder ``(workdir, dim) -> factory``;
``build(workdir, dim)`` returns a fresh store in ``workdir``. The contract's calls map to the
ones mem0's ``Memory`` makes: ``insert`` for new ids, ``update`` with vector and payload for
existing ones, ``get``, ``delete``, ``list`` and ``search``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mem0.vector_stores.base import VectorStoreBase

from umi_dst.adapters import records
from umi_dst.adapters.factory import AdapterFactory, package_versions
from umi_dst.adapters.records import IdMapping
from umi_dst.adapters.scores import ScoreConvention
from umi_dst.adapters.script_helpers.mem0 import listed
from umi_dst.contract import MAX_LIMIT, Embedding, SearchResult
from umi_dst.validation import last_wins, validate_batch, validate_dim, validate_embedding, validate_id, validate_limit


@dataclass(frozen=True)
class Mem0Store:
    """One mem0 vector store, declared: how to build it and how it departs from the contract."""

    build: Callable[[Path, int], VectorStoreBase]
    name: str
    score: ScoreConvention = ScoreConvention.COSINE_SIMILARITY
    """What ``search`` returns as each hit's ``score``."""
    has_scores: bool = True
    """False: the store's scores lose information (clamped, rounded), so each is the cosine
    of the query and the vector the record came back with (``records.ranked_cosines``);
    the ranking is still the store's."""
    ids: IdMapping = IdMapping.UUID
    """mem0 itself writes UUIDs, and several of its stores accept nothing else."""
    count: Callable[[VectorStoreBase], int] | None = None
    """The store's own count; None counts what ``list`` returns (up to 10,000 records)."""
    close: Callable[[VectorStoreBase], None] | None = None
    packages: tuple[str, ...] = ("mem0ai",)

    def __post_init__(self) -> None:
        # ``umi-dst export`` writes a seed of this store with mem0's own API (as LangChainStore's).
        object.__setattr__(self, "export_calls", self._export_calls)

    def _export_calls(self, dim: int):
        from umi_dst.adapters.export import Mem0Calls

        return Mem0Calls(dim, self)

    def __call__(self, workdir: Path, dim: int) -> AdapterFactory:
        dim = validate_dim(dim)
        workdir = Path(workdir) / self.name
        workdir.mkdir(parents=True, exist_ok=True)
        store = self.build(workdir, dim)
        return AdapterFactory(
            name=self.name,
            dim=dim,
            workdir=workdir,
            connect=lambda: Mem0Connection(self, store, dim),
            close_store=lambda: self.close(store) if self.close else None,
            library_versions=package_versions(*self.packages),
        )


class Mem0Connection:
    """The contract's calls (CONTRACT §2) mapped to a ``VectorStoreBase``'s own."""

    def __init__(self, declared: Mem0Store, store: VectorStoreBase, dim: int) -> None:
        self.declared = declared
        self.vectorstore = store
        self.dim = dim
        self._unit = declared.score.needs_unit_vectors

    def __repr__(self) -> str:
        return f"Mem0Connection({self.declared.name!r}, {type(self.vectorstore).__name__})"

    # -- writes -------------------------------------------------------------------------
    def store(self, id: str, embedding: Embedding) -> None:
        self._write([(validate_id(id), validate_embedding(embedding, self.dim))])

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if checked:
            self._write(checked)

    def _write(self, items: list[tuple[str, Embedding]]) -> None:
        new = []
        for id, vector in items:
            if self._record(id) is None:
                new.append((id, vector))
            else:
                self.vectorstore.update(
                    self._store_id(id),
                    vector=records.as_stored(vector, self._unit),
                    payload=records.metadata(id, vector),
                )
        if new:
            self.vectorstore.insert(
                [records.as_stored(vector, self._unit) for _, vector in new],
                payloads=[records.metadata(id, vector) for id, vector in new],
                ids=[self._store_id(id) for id, _ in new],
            )

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        existed = self._record(id) is not None
        if existed:
            self.vectorstore.delete(self._store_id(id))
        return existed

    # -- reads --------------------------------------------------------------------------
    def _record(self, id: str) -> object | None:
        return self.vectorstore.get(self._store_id(id))

    def get(self, id: str) -> Embedding | None:
        id = validate_id(id)
        record = self._record(id)
        return None if record is None else records.vector_of(record.payload, id, self.dim)

    def exists(self, id: str) -> bool:
        return self.get(id) is not None

    def count(self) -> int:
        if self.declared.count is not None:
            return int(self.declared.count(self.vectorstore))
        return len(listed(self.vectorstore.list(None, MAX_LIMIT)))

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        query = validate_embedding(query, self.dim, "query")
        limit = validate_limit(limit)
        hits = self.vectorstore.search("", records.as_stored(query, self._unit), limit)
        if self.declared.has_scores:
            return [
                SearchResult(records.contract_id(hit.payload), self.declared.score.to_cosine(hit.score)) for hit in hits
            ]
        ids = [records.contract_id(hit.payload) for hit in hits]
        vectors = [records.vector_of(hit.payload, id, self.dim) for id, hit in zip(ids, hits)]
        return [SearchResult(id, score) for id, score in zip(ids, records.ranked_cosines(query, vectors))]

    def _store_id(self, id: str) -> str:
        return self.declared.ids.store_id(id)

    def close(self) -> None:
        """Nothing to release: the store outlives its connections (``AdapterFactory.destroy``)."""
