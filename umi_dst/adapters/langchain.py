"""Any LangChain ``VectorStore`` as a backend: a builder of a few lines, no factory to write.

``LangChainStore(build=..., name=...)`` is itself a backend builder ``(workdir, dim) ->
factory``, so a module-level one is a spec (``mymodule:my_store``). ``build(workdir,
embeddings)`` returns a fresh store in ``workdir`` that embeds through ``embeddings``: an
``ExactEmbeddings`` (its ``dim`` is the store's dimension) that hands the store the exact
float32 vector a step asked for. The other
fields declare what the integration does differently from the contract, so the machine meets
the store on its own terms and anything else it does is a finding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from umi_dst.adapters import records
from umi_dst.adapters.factory import AdapterFactory, package_versions
from umi_dst.adapters.filtering import record_metadata, store_filter
from umi_dst.adapters.records import IdMapping, StoreAnswerError
from umi_dst.adapters.scores import ScoreConvention
from umi_dst.adapters.script_build import ScriptBuild
from umi_dst.contract import MAX_LIMIT, Embedding, SearchResult
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import Filter, matches
from umi_dst.metadata import Metadata, split_batch, validate_metadata
from umi_dst.validation import last_wins, validate_batch, validate_dim, validate_embedding, validate_id, validate_limit


class ExactEmbeddings(Embeddings):
    """Embeds each text as the vector the adapter registered for it for the write in progress.

    Outside a write (a store probing its dimension when it is built) every text embeds as the
    first basis vector. Inside one, a text the adapter did not register means the store embeds
    something it was not given: that is reported as a finding, not answered with a made-up vector.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._table: dict[str, list[float]] | None = None

    @contextlib.contextmanager
    def expecting(self, table: dict[str, list[float]]) -> Iterator[None]:
        self._table = table
        try:
            yield
        finally:
            self._table = None

    def _lookup(self, text: str) -> list[float]:
        if self._table is None:
            return [1.0] + [0.0] * (self.dim - 1)
        try:
            return self._table[text]
        except KeyError:
            raise StoreAnswerError(f"the store asked to embed {text!r}, a text no step wrote") from None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._lookup(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._lookup(text)


@dataclass(frozen=True)
class LangChainStore:
    """One LangChain integration, declared: how to build it and how it departs from the contract."""

    build: Callable[[Path, Embeddings], VectorStore]
    name: str
    score: ScoreConvention = ScoreConvention.COSINE_SIMILARITY
    """What ``scored_search`` returns beside each document."""
    scored_search: str = "similarity_search_with_score_by_vector"
    """The store's method that returns ``(document, score)`` pairs for a vector (names differ:
    Chroma's is ``similarity_search_by_vector_with_relevance_scores``)."""
    ids: IdMapping = IdMapping.SAME
    has_get_by_ids: bool = True
    """False: ``get`` reads the record from a full listing instead."""
    has_scores: bool = True
    """False: scores are the cosine of the query and the vector the record came back with
    (``records.ranked_cosines``)."""
    replaces_on_add: bool = True
    """False: ``add_texts`` refuses an existing id, so the adapter deletes it first."""
    search_kwargs: Mapping[str, object] = field(default_factory=dict)
    """Keyword arguments every search takes, for a store whose constructor does not reach its
    search (LanceDB's ``metrics``)."""
    count: Callable[[VectorStore], int] | None = None
    """The store's own count; None counts a full listing (stores of up to 10,000 records)."""
    close: Callable[[VectorStore], None] | None = None
    packages: tuple[str, ...] = ("langchain-core",)
    filter_argument: Callable[[Filter], object] | None = None
    """How a parsed filter (``umi_dst.filters``) becomes the store's own ``filter`` argument
    (``document_predicate``, ``metadata_predicate``, a store's dict); None: the store is
    declared without filters, and the machine draws no metadata and no filters for it."""
    filter_support: FilterSupport | None = None
    """The part of the dialect ``filter_argument`` takes (None: all of it); the machine draws
    only that, and the adapter refuses the rest as ``InvalidInput``."""
    store_keys: tuple[str, ...] = ()
    """Keys the integration adds to the metadata of every document it returns
    (langchain-qdrant's ``_id`` and ``_collection_name``): left out on read, refused as user keys."""
    script_build: ScriptBuild | None = None
    """How an exported script builds the store, where ``build`` needs umi-dst's own code (a
    server the project runs); None: the script builds it with ``build`` itself."""

    def __post_init__(self) -> None:
        # ``umi-dst export`` writes a seed of this store with LangChain's own API; an instance
        # attribute, so the registry's checked wrapper (``functools.wraps``) carries it along.
        object.__setattr__(self, "export_calls", self._export_calls)

    def _export_calls(self, dim: int):
        from umi_dst.adapters.export import LangChainCalls

        return LangChainCalls(dim, self)

    def __call__(self, workdir: Path, dim: int) -> AdapterFactory:
        dim = validate_dim(dim)
        workdir = Path(workdir) / self.name
        workdir.mkdir(parents=True, exist_ok=True)
        embeddings = ExactEmbeddings(dim)
        store = self.build(workdir, embeddings)
        return AdapterFactory(
            name=self.name,
            dim=dim,
            workdir=workdir,
            connect=lambda: LangChainConnection(self, store, embeddings, dim),
            close_store=lambda: self.close(store) if self.close else None,
            library_versions=package_versions(*self.packages),
            filters=self.filter_argument is not None,
            filter_support=self.filter_support,
        )


class LangChainConnection:
    """The contract's calls (CONTRACT §2) mapped to a ``VectorStore``'s own."""

    def __init__(self, declared: LangChainStore, store: VectorStore, embeddings: ExactEmbeddings, dim: int) -> None:
        self.declared = declared
        self.vectorstore = store
        self.embeddings = embeddings
        self.dim = dim
        self._unit = declared.score.needs_unit_vectors

    def __repr__(self) -> str:
        return f"LangChainConnection({self.declared.name!r}, {type(self.vectorstore).__name__})"

    # -- writes -------------------------------------------------------------------------
    def store(self, id: str, embedding: Embedding, metadata: Metadata | None = None) -> None:
        id, vector = validate_id(id), validate_embedding(embedding, self.dim)
        self._add([(id, vector)], [self._tagged(id, vector, validate_metadata(metadata))])

    def store_batch(self, items: Sequence[tuple]) -> None:
        pairs, metadatas = split_batch(items)
        latest = dict(zip((id for id, _ in pairs), metadatas))
        checked = last_wins(validate_batch(pairs, self.dim))
        if checked:
            self._add(checked, [self._tagged(id, vector, latest[id]) for id, vector in checked])

    def _tagged(self, id: str, vector: Embedding, user: Metadata) -> dict:
        filtered = self.declared.filter_argument is not None
        return record_metadata(self.declared.name, filtered, id, vector, user, self.declared.store_keys)

    def _add(self, items: list[tuple[str, Embedding]], metadatas: list[dict]) -> None:
        ids = [id for id, _ in items]
        if not self.declared.replaces_on_add:
            existing = sorted({records.contract_id(doc.metadata) for doc in self._documents(ids)})
            if existing:
                self.vectorstore.delete([self._store_id(id) for id in existing])
        with self.embeddings.expecting({id: records.as_stored(vector, self._unit) for id, vector in items}):
            self.vectorstore.add_texts(
                ids,
                metadatas=metadatas,
                ids=[self._store_id(id) for id in ids],
            )

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        existed = self.get(id) is not None
        if existed:
            self.vectorstore.delete([self._store_id(id)])
        return existed

    def delete_where(self, filter: dict) -> int:
        """The ids the store's own filter selects (one filtered listing), then one ``delete``."""
        selected = self._search_kwargs(filter)
        doomed = sorted({records.contract_id(doc.metadata) for doc in self._listing(**selected)})
        if doomed:
            self.vectorstore.delete([self._store_id(id) for id in doomed])
        return len(doomed)

    # -- reads --------------------------------------------------------------------------
    def get(self, id: str) -> Embedding | None:
        id = validate_id(id)
        document = self._document(id)
        return None if document is None else records.vector_of(document.metadata, id, self.dim)

    def get_metadata(self, id: str) -> Metadata | None:
        id = validate_id(id)
        document = self._document(id)
        if document is None:
            return None
        records.vector_of(document.metadata, id, self.dim)  # the record of this id, whole
        return records.user_metadata(document.metadata, self.declared.store_keys)

    def _document(self, id: str):
        documents = self._documents([id])
        if len(documents) > 1:
            raise StoreAnswerError(f"the store holds {len(documents)} records for id {id!r}")
        return documents[0] if documents else None

    def exists(self, id: str) -> bool:
        return self.get(id) is not None

    def count(self) -> int:
        if self.declared.count is not None:
            return int(self.declared.count(self.vectorstore))
        return len(self._listing())

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        query = validate_embedding(query, self.dim, "query")
        limit = validate_limit(limit)
        kwargs = self._search_kwargs(filter)
        values = records.as_stored(query, self._unit)
        if self.declared.has_scores:
            scored_search = getattr(self.vectorstore, self.declared.scored_search)
            found = scored_search(values, k=limit, **kwargs)
            return [
                SearchResult(records.contract_id(doc.metadata), self.declared.score.to_cosine(score))
                for doc, score in found
            ]
        documents = self.vectorstore.similarity_search_by_vector(values, k=limit, **kwargs)
        ids = [records.contract_id(doc.metadata) for doc in documents]
        vectors = [records.vector_of(doc.metadata, id, self.dim) for id, doc in zip(ids, documents)]
        return [SearchResult(id, score) for id, score in zip(ids, records.ranked_cosines(query, vectors))]

    def _documents(self, ids: list[str]) -> list:
        """The documents the store holds for ``ids``, in one call."""
        if self.declared.has_get_by_ids:
            return self.vectorstore.get_by_ids([self._store_id(id) for id in ids])
        wanted = set(ids)
        return [doc for doc in self._listing() if records.contract_id(doc.metadata) in wanted]

    def _search_kwargs(self, filter: dict | None) -> dict:
        """The declared keywords, and the store's own form of ``filter`` (checked first)."""
        if filter is None:
            return dict(self.declared.search_kwargs)
        declared = self.declared
        own = store_filter(declared.name, declared.filter_argument, declared.filter_support, filter)
        return {**declared.search_kwargs, "filter": own}

    def _listing(self, **kwargs: object) -> list:
        """Every record (that ``kwargs``' filter selects), as the store's own search returns
        them (one query reaches all)."""
        probe = [1.0] + [0.0] * (self.dim - 1)
        return self.vectorstore.similarity_search_by_vector(
            probe, k=MAX_LIMIT, **(kwargs or self.declared.search_kwargs)
        )

    def _store_id(self, id: str) -> str:
        return self.declared.ids.store_id(id)

    def close(self) -> None:
        """Nothing to release: the store outlives its connections (``AdapterFactory.destroy``)."""


def document_predicate(node: Filter) -> Callable[[Document], bool]:
    """A ``filter_argument`` for a store whose ``filter`` is a callable over a ``Document``
    (``InMemoryVectorStore``): the contract's own semantics over the metadata the store keeps."""
    return lambda document: matches(node, records.user_metadata(document.metadata))


def metadata_predicate(node: Filter) -> Callable[[dict], bool]:
    """A ``filter_argument`` for a store whose ``filter`` is a callable over a metadata dict (FAISS)."""
    return lambda metadata: matches(node, records.user_metadata(metadata))
