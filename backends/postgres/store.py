"""PostgresVectorBackend: PostgreSQL + pgvector, one table per store, exact or HNSW search.

Embeddings travel in pgvector's binary format, so ``get`` returns the stored float32 values
bit for bit. Every store is a table ``vectors`` in a schema of its own (so stores never meet,
even on a shared external server), with the embedding kept inline in the row (``STORAGE MAIN`` and a
``toast_tuple_target`` of a whole page) rather than in TOAST: an exact scan of 10,000 vectors at dim 1536 then takes about a third of
the time, with no TOAST lookup per row.

Batch writes are one transaction. Large batches go by binary ``COPY``: straight into the table
when none of their ids exists yet (the bulk-load case), else into a temporary staging table
followed by one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``.

Two modes, each a factory configuration:

- **exact**: the table has no vector index at all, so every search is a sequential scan;
- **approximate**: an HNSW index (cosine ops), built by the first write that leaves the table
  with ``index_min_rows`` rows or more (after a bulk load, one ``CREATE INDEX`` over all of
  it, as pgvector recommends for loading, instead of growing the graph row by row; until then
  searches scan, which is exact), searched with a declared ``ef_search`` and
  pgvector 0.8's relaxed-order iterative scan, re-sorted by distance (in Python: see
  ``_nearest``). The index is used even where the planner would rather scan a small table, so
  small stores test it too. Should it still yield fewer than ``min(limit, count)`` rows (the
  iterative scan stops at ``hnsw.max_scan_tuples``; graph nodes can become unreachable), the
  search falls back to an exact scan rather than return short.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence

import numpy as np
import psycopg
from psycopg import sql
from umi_dst.backends.postgres.filter_sql import condition
from umi_dst.backends.postgres.jsonb import jsonb_text

from umi_dst.contract import Embedding, InvalidInput, MaintenanceRefused, SearchResult
from umi_dst.filters import MATCH_ALL, parse_filter
from umi_dst.metadata import Metadata, split_batch, validate_metadata
from umi_dst.validation import (
    last_wins,
    validate_batch,
    validate_embedding,
    validate_id,
    validate_limit,
)

COPY_MIN_ROWS = 100
"""Batches of at least this many distinct ids are written with binary COPY."""

DEFAULT_EF_SEARCH = 800
"""HNSW candidate list size. On 1,609 random records of dim 1536 the recall battery measured
0.91 at 40 (pgvector's default, too close to the floor of 0.9 for a stable verdict) and 0.98 at
100; at 10,000 such records 0.62 at 100, 0.88 at 400 and 0.975 at 800, with pgvector's default
build (reports/recall-sweep.md)."""
DEFAULT_INDEX_MIN_ROWS = 8
EXACT_MAINTENANCE = ("reindex", "vacuum")
"""Maintenance of an exact store (``PostgresVectorBackend.maintain``): it has no vector index to build."""
APPROXIMATE_MAINTENANCE = ("build_index", *EXACT_MAINTENANCE)
CONCURRENT_MAINTENANCE = ("reindex_concurrently",)
"""Maintenance that runs while other connections read and write: ``REINDEX TABLE CONCURRENTLY``
(the primary key and any HNSW index, each built anew beside the old one, which serves until the
swap). The parallel mode runs it on a client (``PostgresFactory.concurrent_maintenance``); it
cannot run inside a transaction block, where the crash points that stand before a commit put a
write, so the sequential machine does not draw it."""
DEFAULT_RECALL_FLOOR = 0.9
_COPY_ROWS_PER_WRITE = 512
_REINDEX_TURN_POLL = 0.005
_REINDEX_TURN_ATTEMPTS = 4000
"""How often, and how many times (20 s), a ``REINDEX CONCURRENTLY`` asks for its turn."""
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PGCOPY_TRAILER = struct.pack(">h", -1)


class PostgresVectorBackend:
    """One connection to one store (a table ``vectors(id text primary key, embedding vector)``).

    ``ef_search`` is ``None`` in exact mode; otherwise the HNSW candidate list size, and
    ``index_min_rows`` the row count at which a write builds the index.
    """

    def __init__(
        self,
        connection: psycopg.Connection,
        table: sql.Identifier,
        dim: int,
        ef_search: int | None,
        index_min_rows: int = DEFAULT_INDEX_MIN_ROWS,
    ) -> None:
        self.connection = connection
        self.table = table
        self.dim = dim
        self.ef_search = ef_search
        self.index_min_rows = index_min_rows
        self._indexed = ef_search is None  # exact mode has no index to build

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table.as_string(None)}, dim={self.dim}, pid={self.connection.info.backend_pid})"

    # -- writes -------------------------------------------------------------------------
    def store(self, id: str, embedding: Embedding, metadata: Metadata | None = None) -> None:
        row = (validate_id(id), validate_embedding(embedding, self.dim))
        kept = validate_metadata(metadata)
        if kept:
            self.connection.execute(self._upsert_sql(tagged=True), (*row, jsonb_text(kept)))
        else:
            self.connection.execute(self._upsert_sql(), row)
        self._index_when_ready()

    def store_batch(self, items: Sequence[tuple]) -> None:
        pairs, metadatas = split_batch(items)
        latest = dict(zip((id for id, _ in pairs), metadatas))
        # Sorted, so that concurrent batches lock their rows in one order and cannot deadlock.
        rows = sorted(last_wins(validate_batch(pairs, self.dim)), key=lambda row: row[0])
        if not rows:
            return
        with self.connection.transaction(), self.connection.cursor() as cursor:
            if any(latest[id] for id, _ in rows):  # metadata travels as jsonb parameters, not by COPY
                tagged = [(id, vector, jsonb_text(latest[id])) for id, vector in rows]
                cursor.executemany(self._upsert_sql(tagged=True), tagged)
            elif len(rows) < COPY_MIN_ROWS:
                cursor.executemany(self._upsert_sql(), rows)
            elif self._any_exists(cursor, [id for id, _ in rows]):
                self._upsert_through_staging(cursor, rows)
            else:
                try:
                    with self.connection.transaction():  # a savepoint, for the race below
                        self._copy_into(cursor, self.table, rows)
                except psycopg.errors.UniqueViolation:  # another writer added one of the ids
                    self._upsert_through_staging(cursor, rows)
        self._index_when_ready()

    def _index_when_ready(self) -> None:
        """Build the HNSW index once the table holds ``index_min_rows`` rows.

        One transaction after the write: the self-conflicting lock makes concurrent writers
        that reach this point build the index once, and the one that does not build sees it.
        The lock is taken ``NOWAIT``: while another session holds a conflicting one (a writer
        building the index, a ``REINDEX CONCURRENTLY``), this write leaves the check to the
        next. Waiting deadlocked with ``REINDEX CONCURRENTLY``, which waits in turn for this
        open transaction to end, and PostgreSQL aborted one of the two (found by the parallel
        mode's maintenance steps).
        """
        if self._indexed:
            return
        try:
            with self.connection.transaction():
                lock = "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE NOWAIT"
                self.connection.execute(sql.SQL(lock).format(self.table))
                found = bool(self._vector_indexes())
                if not found and self.count() >= self.index_min_rows:
                    self._create_index()
                    found = True
        except psycopg.errors.LockNotAvailable:
            return  # the write itself is committed; the next one checks again
        self._indexed = found

    def _create_index(self) -> None:
        self.connection.execute(
            sql.SQL("CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops)").format(self.table)
        )

    def _vector_indexes(self) -> list[str]:
        """The table's indexes other than its primary key, as the server names them (qualified, quoted)."""
        rows = self.connection.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
            (self.table.as_string(self.connection),),
        ).fetchall()
        return [name for (name,) in rows]

    def maintain(self, operation: str) -> None:
        """Run one maintenance operation with PostgreSQL's own statement (the ``Maintained`` capability).

        ``build_index`` drops the HNSW index and builds it again over the rows now stored, in
        one transaction (``CREATE INDEX`` after data exists, as after a bulk load);
        ``reindex`` is ``REINDEX TABLE`` (the primary key and any vector index); ``vacuum`` is
        ``VACUUM``, which reclaims deleted rows' space and their index entries;
        ``reindex_concurrently`` is ``REINDEX TABLE CONCURRENTLY`` (``CONCURRENT_MAINTENANCE``).
        One that cannot run inside a transaction block, called in one (a crash point before a
        commit opens one), raises ``MaintenanceRefused``: it did not start.
        """
        offered = (EXACT_MAINTENANCE if self.ef_search is None else APPROXIMATE_MAINTENANCE) + CONCURRENT_MAINTENANCE
        if operation not in offered:
            raise InvalidInput(f"unknown maintenance operation {operation!r}; this store offers {offered}")
        try:
            self._maintain(operation)
        except psycopg.errors.ActiveSqlTransaction as refused:
            raise MaintenanceRefused(f"{operation} cannot run inside a transaction block: {refused}") from refused

    def _maintain(self, operation: str) -> None:
        if operation == "build_index":
            with self.connection.transaction():
                for name in self._vector_indexes():
                    self.connection.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
                self._create_index()
            self._indexed = True
        elif operation == "reindex":
            self.connection.execute(sql.SQL("REINDEX TABLE {}").format(self.table))
        elif operation == "reindex_concurrently":
            self._reindex_concurrently()
        else:
            self.connection.execute(sql.SQL("VACUUM {}").format(self.table))

    def _reindex_concurrently(self) -> None:
        """``REINDEX TABLE CONCURRENTLY``, one session at a time per table: two at once deadlock
        (each waits for the other's transaction to end) and PostgreSQL aborts one. The turn is a
        session advisory lock taken by polling, so no transaction stays open while it waits."""
        key = sql.SQL("hashtext({})").format(sql.Literal(self.table.as_string(self.connection)))
        for _ in range(_REINDEX_TURN_ATTEMPTS):
            if self.connection.execute(sql.SQL("SELECT pg_try_advisory_lock({})").format(key)).fetchone()[0]:
                break
            time.sleep(_REINDEX_TURN_POLL)
        else:
            raise TimeoutError(f"another session kept reindexing {self.table.as_string(self.connection)}")
        try:
            self.connection.execute(sql.SQL("REINDEX TABLE CONCURRENTLY {}").format(self.table))
        finally:
            self.connection.execute(sql.SQL("SELECT pg_advisory_unlock({})").format(key))

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        cursor = self.connection.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(self.table), (id,))
        return cursor.rowcount > 0

    def delete_where(self, filter: dict) -> int:
        """One ``DELETE ... WHERE`` statement: a single transaction, so all or nothing."""
        where, params = condition(parse_filter(filter))
        cursor = self.connection.execute(sql.SQL("DELETE FROM {} WHERE {}").format(self.table, where), params)
        return cursor.rowcount

    def _upsert_sql(self, tagged: bool = False) -> sql.Composed:
        """An upsert of ``(id, embedding)``, or with ``tagged`` of ``(id, embedding, metadata)``;
        either replaces the metadata whole (the untagged one with the column default, ``{}``)."""
        columns, values = ("id, embedding, metadata", "%s, %b, %s::jsonb") if tagged else ("id, embedding", "%s, %b")
        return sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
            "metadata = EXCLUDED.metadata"
        ).format(self.table, sql.SQL(columns), sql.SQL(values))

    def _any_exists(self, cursor: psycopg.Cursor, ids: list[str]) -> bool:
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE id = ANY(%s))").format(self.table)
        return cursor.execute(query, (ids,)).fetchone()[0]

    def _upsert_through_staging(self, cursor: psycopg.Cursor, rows: list[tuple[str, Embedding]]) -> None:
        """COPY into a session-private table emptied at each commit, then one upsert from it."""
        cursor.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {} (id text, embedding vector({}) STORAGE MAIN) {} "
                "ON COMMIT DELETE ROWS"
            ).format(_STAGING, sql.Literal(self.dim), INLINE_STORAGE)
        )
        self._copy_into(cursor, _STAGING, rows)
        cursor.execute(
            sql.SQL(
                "INSERT INTO {table} (id, embedding) SELECT id, embedding FROM {staging} "
                "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata"
            ).format(table=self.table, staging=_STAGING)
        )

    def _copy_into(self, cursor: psycopg.Cursor, table: sql.Composable, rows: list[tuple[str, Embedding]]) -> None:
        with cursor.copy(sql.SQL("COPY {} (id, embedding) FROM STDIN (FORMAT BINARY)").format(table)) as copy:
            for chunk in binary_copy_chunks(rows, self.dim):
                copy.write(chunk)

    # -- reads --------------------------------------------------------------------------
    def get(self, id: str) -> Embedding | None:
        id = validate_id(id)
        query = sql.SQL("SELECT embedding FROM {} WHERE id = %s").format(self.table)
        row = self.connection.execute(query, (id,), binary=True).fetchone()
        return None if row is None else row[0].to_numpy().copy()

    def get_metadata(self, id: str) -> Metadata | None:
        id = validate_id(id)
        query = sql.SQL("SELECT metadata FROM {} WHERE id = %s").format(self.table)
        row = self.connection.execute(query, (id,)).fetchone()
        return None if row is None else row[0]

    def exists(self, id: str) -> bool:
        id = validate_id(id)
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE id = %s)").format(self.table)
        return self.connection.execute(query, (id,)).fetchone()[0]

    def count(self) -> int:
        return self.connection.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table)).fetchone()[0]

    def scan(self) -> tuple[list[str], np.ndarray]:
        """Every record in one binary ``COPY ... TO`` (the optional ``FullScan`` capability)."""
        query = sql.SQL("COPY {} (id, embedding) TO STDOUT (FORMAT BINARY)").format(self.table)
        with self.connection.cursor() as cursor, cursor.copy(query) as copy:
            data = b"".join(copy)
        return parse_binary_copy(data, self.dim)

    def scan_metadata(self) -> tuple[list[str], list[Metadata]]:
        """Every record's metadata in one query (the optional ``MetadataScan`` capability)."""
        rows = self.connection.execute(sql.SQL("SELECT id, metadata FROM {}").format(self.table)).fetchall()
        return [id for id, _ in rows], [metadata for _, metadata in rows]

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        """The nearest ``limit`` rows among those ``filter`` selects.

        With a filter, the approximate mode scans the index in ``strict_order`` iterative mode:
        pgvector filters after the index scan, so a plain HNSW scan yields at most
        ``ef_search`` candidates and a selective filter leaves fewer than ``limit`` of them
        (pgvector #259); the iterative scan goes on until ``limit`` rows pass the filter or
        ``hnsw.max_scan_tuples`` are scanned, and a search still short of the matching rows
        is redone as an exact scan.
        """
        vector = validate_embedding(query, self.dim, "query")
        limit = validate_limit(limit)
        node = MATCH_ALL if filter is None else parse_filter(filter)
        where = None if node == MATCH_ALL else condition(node)
        if self.ef_search is None:
            rows = self._nearest(vector, limit, where)
        else:
            with self.connection.transaction():
                self._configure(
                    ("hnsw.ef_search", str(self.ef_search)),
                    ("hnsw.iterative_scan", "relaxed_order" if where is None else "strict_order"),
                    ("enable_seqscan", "off"),  # the index even where a scan looks cheaper
                )
                rows = self._nearest(vector, limit, where)
                if len(rows) < limit and len(rows) < self._count(where):
                    self._configure(("enable_seqscan", "on"), ("enable_indexscan", "off"))
                    rows = self._nearest(vector, limit, where)
        return [SearchResult(id, score) for id, score in rows]

    def _count(self, where: tuple[sql.Composable, list] | None) -> int:
        if where is None:
            return self.count()
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.table, where[0])
        return self.connection.execute(query, where[1]).fetchone()[0]

    def _configure(self, *settings: tuple[str, str]) -> None:
        """Set planner and pgvector settings for the current transaction only."""
        calls = sql.SQL(", ").join(sql.SQL("set_config(%s, %s, true)") for _ in settings)
        self.connection.execute(sql.SQL("SELECT {}").format(calls), [value for pair in settings for value in pair])

    def _nearest(
        self, vector: Embedding, limit: int, where: tuple[sql.Composable, list] | None = None
    ) -> list[tuple[str, float]]:
        """The ``limit`` nearest rows, scored ``1 - cosine distance``, best first.

        The query is the shape an index scan serves. The re-sort after a relaxed-order
        iterative scan happens here, not in SQL: PostgreSQL 17+ carries the inner ``ORDER BY``
        out of a materialized CTE, believes the rows sorted and skips an outer re-sort.
        """
        if where is None:
            query = sql.SQL("SELECT id, embedding <=> %b FROM {} ORDER BY embedding <=> %b LIMIT %s").format(self.table)
            params: list = [vector, vector, limit]
        else:
            query = sql.SQL("SELECT id, embedding <=> %b FROM {} WHERE {} ORDER BY embedding <=> %b LIMIT %s").format(
                self.table, where[0]
            )
            params = [vector, *where[1], vector, limit]
        rows = self.connection.execute(query, params).fetchall()
        rows.sort(key=lambda row: (row[1], row[0]))
        return [(id, 1 - distance) for id, distance in rows]

    def close(self) -> None:
        self.connection.close()


_STAGING = sql.Identifier("umi_dst_staging")
INLINE_STORAGE = sql.SQL("WITH (toast_tuple_target = 8160)")
"""Rows that fit a page skip the TOAST machinery (and its futile compression attempt) entirely."""


def binary_copy_chunks(rows: Sequence[tuple[str, Embedding]], dim: int) -> Iterator[bytes]:
    """``COPY ... (FORMAT BINARY)`` data for ``(id text, embedding vector)`` rows.

    The vectors are byte-swapped to big-endian float32 in one numpy pass and the rows are
    joined in large chunks: the per-row cost is a few bytes of header, not a Python dumper.
    """
    matrix = np.asarray([embedding for _, embedding in rows], dtype=">f4").reshape(len(rows), dim)
    vector_header = struct.pack(">ihh", 4 + 4 * dim, dim, 0)
    yield _PGCOPY_HEADER
    for start in range(0, len(rows), _COPY_ROWS_PER_WRITE):
        parts = []
        for offset, (id, _) in enumerate(rows[start : start + _COPY_ROWS_PER_WRITE]):
            encoded = id.encode("utf-8")
            parts += (struct.pack(">hi", 2, len(encoded)), encoded, vector_header, matrix[start + offset].data)
        yield b"".join(parts)
    yield _PGCOPY_TRAILER


def parse_binary_copy(data: bytes, dim: int) -> tuple[list[str], np.ndarray]:
    """The ``(id text, embedding vector)`` rows of ``COPY ... TO (FORMAT BINARY)`` data.

    The inverse of ``binary_copy_chunks``: ids are decoded row by row, the vectors' bytes are
    joined and converted from big-endian float32 in one numpy pass.
    """
    if not data.startswith(_PGCOPY_HEADER):
        raise ValueError("not PostgreSQL binary COPY data with flags 0 and no header extension")
    view = memoryview(data)
    ids: list[str] = []
    vectors: list[memoryview] = []
    width = 4 * dim
    position = len(_PGCOPY_HEADER)
    while struct.unpack_from(">h", data, position)[0] != -1:
        (id_length,) = struct.unpack_from(">i", data, position + 2)
        start = position + 6
        ids.append(str(view[start : start + id_length], "utf-8"))
        vector_start = start + id_length + 8  # the field's length, then the vector's dim and flags
        vectors.append(view[vector_start : vector_start + width])
        position = vector_start + width
    matrix = np.frombuffer(b"".join(vectors), dtype=">f4").astype(np.float32).reshape(len(ids), dim)
    return ids, matrix
