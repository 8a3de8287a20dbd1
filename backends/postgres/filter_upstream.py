"""Case study ``postgres-hnsw-where``: an HNSW query with a ``WHERE`` and no iterative scan.

What AI-memory projects shipped on pgvector (plastic-labs/honcho #1048, dify #31896; the cause
is pgvector #259): ``SELECT ... WHERE <filter> ORDER BY embedding <=> q LIMIT k`` served by the
HNSW index with the default ``hnsw.ef_search = 40`` and ``hnsw.iterative_scan = off``. The index
yields at most 40 candidates and the filter runs on those, so a filter that keeps few rows
returns fewer than ``k`` of them, or none, while more match. Otherwise ``postgres-approx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from umi_dst.backends.postgres.factory import PostgresFactory
from umi_dst.backends.postgres.filter_sql import condition
from umi_dst.backends.postgres.store import DEFAULT_EF_SEARCH, DEFAULT_RECALL_FLOOR, PostgresVectorBackend

from umi_dst.contract import Embedding, SearchResult
from umi_dst.export.calls import renderer_at
from umi_dst.filters import MATCH_ALL, parse_filter
from umi_dst.validation import validate_embedding, validate_limit

PGVECTOR_DEFAULT_EF_SEARCH = 40


class HnswWhereBackend(PostgresVectorBackend):
    """``postgres-approx`` whose filtered searches are one plain HNSW index scan."""

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        """A filter with no condition (``{}``) adds no ``WHERE``, as the projects' query builders
        add one only for conditions: it is an unfiltered search."""
        node = None if filter is None else parse_filter(filter)
        if node is None or node == MATCH_ALL:
            return super().search(query, limit)
        vector = validate_embedding(query, self.dim, "query")
        limit = validate_limit(limit)
        where = condition(node)
        with self.connection.transaction():
            self._configure(
                ("hnsw.ef_search", str(PGVECTOR_DEFAULT_EF_SEARCH)),
                ("hnsw.iterative_scan", "off"),
                ("enable_seqscan", "off"),  # the index, as on the projects' large tables
            )
            rows = self._nearest(vector, limit, where)
        return [SearchResult(id, score) for id, score in rows]


@dataclass
class HnswWhereFactory(PostgresFactory):
    name: str = "postgres-hnsw-where"

    def open(self) -> HnswWhereBackend:
        return HnswWhereBackend(self._connect(), self.table, self.dim, self.ef_search, self.index_min_rows)


def factory(workdir: Path, dim: int) -> HnswWhereFactory:
    """Registered builder for ``postgres-hnsw-where``. ``workdir`` is unused."""
    return HnswWhereFactory(dim=dim, ef_search=DEFAULT_EF_SEARCH, recall_floor=DEFAULT_RECALL_FLOOR, filters=True)


factory.export_calls = renderer_at("umi_dst.backends.postgres.export:hnsw_where_calls")
