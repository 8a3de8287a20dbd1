"""Any mem0 ``VectorStoreBase`` as a backend: the store layer under agent-memory applications.

``Mem0Store(build=..., name=...)`` is itself a backend builder ``(workdir, dim) -> factory``;
``build(workdir, dim)`` returns a fresh store in ``workdir``. The contract's calls map to the
ones mem0's ``Memory`` makes: ``insert`` for new ids, ``update`` with vector and payload for
existing ones, ``get``, ``delete``, ``list`` and ``search``. A store declared with a
``filter_argument`` takes metadata (in the payload, beside the adapter's keys) and filters, as
mem0's ``filters`` dict of that store's dialect (``umi_dst.adapters.mem0_filters``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mem0.vector_stores.base import VectorStoreBase

from umi_dst.adapters import records
from umi_dst.adapters.factory import AdapterFactory, package_versions
from umi_dst.adapters.filtering import record_metadata, store_filter
from umi_dst.adapters.records import IdMapping
from umi_dst.adapters.scores import ScoreConvention
from umi_dst.adapters.script_build import ScriptBuild
from umi_dst.adapters.script_helpers.mem0 import listed
from umi_dst.contract import MAX_LIMIT, Embedding, SearchResult
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import Filter
from umi_dst.metadata import Metadata, split_batch, validate_metadata
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
    filter_argument: Callable[[Filter], dict | None] | None = None
    """How a parsed filter becomes the store's ``filters`` dict (None for every record); None:
    the store is declared without filters, and the machine draws no metadata and no filters."""
    filter_support: FilterSupport | None = None
    """The part of the dialect ``filter_argument`` takes (None: all of it)."""
    script_build: ScriptBuild | None = None
    """How an exported script builds the store, where ``build`` needs umi-dst's own code (a
    server the project runs); None: the script builds it with ``build`` itself."""

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
            filters=self.filter_argument is not None,
            filter_support=self.filter_support,
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
    def store(self, id: str, embedding: Embedding, metadata: Metadata | None = None) -> None:
        id, vector = validate_id(id), validate_embedding(embedding, self.dim)
        self._write([(id, vector)], {id: self._payload(id, vector, validate_metadata(metadata))})

    def store_batch(self, items: Sequence[tuple]) -> None:
        pairs, metadatas = split_batch(items)
        latest = dict(zip((id for id, _ in pairs), metadatas))
        checked = last_wins(validate_batch(pairs, self.dim))
        if checked:
            self._write(checked, {id: self._payload(id, vector, latest[id]) for id, vector in checked})

    def _payload(self, id: str, vector: Embedding, user: Metadata) -> dict:
        filtered = self.declared.filter_argument is not None
        return record_metadata(self.declared.name, filtered, id, vector, user)

    def _write(self, items: list[tuple[str, Embedding]], payloads: dict[str, dict]) -> None:
        new = []
        for id, vector in items:
            if self._record(id) is None:
                new.append((id, vector))
            else:
                self.vectorstore.update(
                    self._store_id(id), vector=records.as_stored(vector, self._unit), payload=payloads[id]
                )
        if new:
            self.vectorstore.insert(
                [records.as_stored(vector, self._unit) for _, vector in new],
                payloads=[payloads[id] for id, _ in new],
                ids=[self._store_id(id) for id, _ in new],
            )

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        existed = self._record(id) is not None
        if existed:
            self.vectorstore.delete(self._store_id(id))
        return existed

    def delete_where(self, filter: dict) -> int:
        """The ids the store's own ``list`` selects, then one ``delete`` each (mem0 deletes by id)."""
        selected = self._filters(filter)
        doomed = sorted({records.contract_id(record.payload) for record in self._list(selected)})
        for id in doomed:
            self.vectorstore.delete(self._store_id(id))
        return len(doomed)

    # -- reads --------------------------------------------------------------------------
    def _record(self, id: str) -> object | None:
        return self.vectorstore.get(self._store_id(id))

    def get(self, id: str) -> Embedding | None:
        id = validate_id(id)
        record = self._record(id)
        return None if record is None else records.vector_of(record.payload, id, self.dim)

    def get_metadata(self, id: str) -> Metadata | None:
        id = validate_id(id)
        record = self._record(id)
        if record is None:
            return None
        records.vector_of(record.payload, id, self.dim)  # the record of this id, whole
        return records.user_metadata(record.payload)

    def exists(self, id: str) -> bool:
        return self.get(id) is not None

    def count(self) -> int:
        if self.declared.count is not None:
            return int(self.declared.count(self.vectorstore))
        return len(self._list(None))

    def _list(self, filters: dict | None) -> list:
        return listed(self.vectorstore.list(filters, MAX_LIMIT))

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        query = validate_embedding(query, self.dim, "query")
        limit = validate_limit(limit)
        filters = None if filter is None else self._filters(filter)
        hits = self.vectorstore.search("", records.as_stored(query, self._unit), limit, filters)
        if self.declared.has_scores:
            return [
                SearchResult(records.contract_id(hit.payload), self.declared.score.to_cosine(hit.score)) for hit in hits
            ]
        ids = [records.contract_id(hit.payload) for hit in hits]
        vectors = [records.vector_of(hit.payload, id, self.dim) for id, hit in zip(ids, hits)]
        return [SearchResult(id, score) for id, score in zip(ids, records.ranked_cosines(query, vectors))]

    def _filters(self, filter: dict) -> dict | None:
        declared = self.declared
        return store_filter(declared.name, declared.filter_argument, declared.filter_support, filter)

    def _store_id(self, id: str) -> str:
        return self.declared.ids.store_id(id)

    def close(self) -> None:
        """Nothing to release: the store outlives its connections (``AdapterFactory.destroy``)."""
