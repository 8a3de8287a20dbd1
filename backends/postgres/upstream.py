"""postgres-upstream: the original Rust ``PostgresVectorBackend``, ported faithfully as a case study.

What upstream did, and so what this does:

- one shared table ``embeddings (id TEXT PRIMARY KEY, embedding vector(dim) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW())`` (here in a schema per factory, only so
  tests stay isolated);
- an IVFFlat index with ``lists = 100``, created together with the (still empty) table;
- ``store`` is one ``INSERT ... ON CONFLICT (id) DO UPDATE``; a batch is one multi-row
  statement of the same, as written (no de-duplication of repeated ids);
- vectors are sent as text (each float formatted like Rust's ``f32::to_string``) and read
  back as text;
- ``search`` is ``SELECT id, 1 - (embedding <=> q) ... ORDER BY embedding <=> q LIMIT n``
  with the default ``ivfflat.probes``, the score read as f64 and narrowed to f32.

Validation, connections and the nemeses are shared with ``umi_dst.backends.postgres``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from psycopg import sql
from umi_dst.backends.postgres.factory import PostgresFactory
from umi_dst.backends.postgres.store import PostgresVectorBackend

from umi_dst.contract import Embedding, SearchResult
from umi_dst.export.calls import renderer_at
from umi_dst.validation import validate_batch, validate_embedding, validate_id, validate_limit

IVFFLAT_LISTS = 100


def vector_text(vector: Embedding) -> str:
    """pgvector's text form, each value printed as Rust prints an ``f32``: shortest, positional."""
    return "[" + ",".join(np.format_float_positional(value, unique=True, trim="-") for value in vector) + "]"


def parse_vector_text(text: str) -> Embedding:
    """Upstream's ``parse_pgvector_string``: strip the brackets, split on commas, parse floats."""
    return np.array([float(value) for value in text.strip()[1:-1].split(",")], dtype=np.float32)


class UpstreamBackend(PostgresVectorBackend):
    """Upstream's SQL over the shared connection plumbing of ``PostgresVectorBackend``."""

    def store(self, id: str, embedding: Embedding) -> None:
        self._insert([(validate_id(id), validate_embedding(embedding, self.dim))])

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        rows = validate_batch(items, self.dim)
        if rows:
            self._insert(rows)

    def _insert(self, rows: list[tuple[str, Embedding]]) -> None:
        values = sql.SQL(", ").join(sql.SQL("(%s, %s::vector)") for _ in rows)
        params = [value for id, vector in rows for value in (id, vector_text(vector))]
        self.connection.execute(
            sql.SQL(
                "INSERT INTO {} (id, embedding) VALUES {} ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding"
            ).format(self.table, values),
            params,
        )

    def get(self, id: str) -> Embedding | None:
        id = validate_id(id)
        row = self.connection.execute(
            sql.SQL("SELECT embedding::text FROM {} WHERE id = %s").format(self.table), (id,)
        ).fetchone()
        return None if row is None else parse_vector_text(row[0])

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        text = vector_text(validate_embedding(query, self.dim, "query"))
        limit = validate_limit(limit)
        rows = self.connection.execute(
            sql.SQL(
                "SELECT id, 1 - (embedding <=> %(query)s::vector) AS score FROM {} WHERE embedding IS NOT NULL "
                "ORDER BY embedding <=> %(query)s::vector LIMIT %(limit)s"
            ).format(self.table),
            {"query": text, "limit": limit},
        ).fetchall()
        return [SearchResult(id, float(np.float32(score))) for id, score in rows]


@dataclass
class UpstreamFactory(PostgresFactory):
    """A store laid out as upstream laid out its one table; search is declared exact, as upstream
    promised results consistent with its in-memory SimVectorBackend."""

    name: str = "postgres-upstream"
    table_name: str = "embeddings"

    def _create_statements(self) -> list[sql.Composable]:
        return [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, embedding vector({}) NOT NULL, "
                "created_at TIMESTAMPTZ NOT NULL DEFAULT NOW())"
            ).format(self.table, sql.Literal(self.dim)),
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS idx_embeddings_vector ON {} USING ivfflat (embedding vector_cosine_ops) WITH (lists = {})"
            ).format(self.table, sql.Literal(IVFFLAT_LISTS)),
        ]

    def open(self) -> UpstreamBackend:
        return UpstreamBackend(self._connect(), self.table, self.dim, ef_search=None)


def factory(workdir: Path, dim: int) -> UpstreamFactory:
    """Registered builder for ``postgres-upstream``. ``workdir`` is unused."""
    return UpstreamFactory(dim=dim)


factory.export_calls = renderer_at("umi_dst.backends.postgres.export:upstream_calls")
