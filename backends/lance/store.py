"""LanceVectorBackend: the contract over an embedded LanceDB table on a local directory.

One store is one table of ``id: string`` and ``embedding: FixedSizeList<float32>[dim]``.
Each write is one Lance commit: upserts go through ``merge_insert("id")`` (plain ``add``
would append a second row for an existing id) and deletes take the id as an expression
value, never as SQL text. A delete that matches nothing commits nothing. Every commit adds a
fragment or a deletion file, and reads slow down with their number, so a connection compacts
the table after every few of its commits (``CompactionPolicy``). Commits that lose a race to another writer are retried with
bounded, jittered backoff. Connections read with zero consistency interval, so a second
connection sees every acknowledged write.

A connection drives lancedb's async API on an event loop of its own, in the calling thread.
lancedb's synchronous wrapper hands every call to a background thread and asks that thread
for the table's schema two or three times per query; under load each hand-off costs
milliseconds, and a ``get`` took about twice as long as the query itself.

Two modes: exact (every search is a flat scan, any index bypassed) and approximate (an
HNSW index built once the table holds enough rows, declared by an ``IndexPlan``).
"""

from __future__ import annotations

import asyncio
import random
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.db import AsyncConnection
from lancedb.expr import Expr, col, lit
from lancedb.index import HnswSq
from lancedb.query import AsyncVectorQuery
from lancedb.table import AsyncTable
from umi_dst.backends.lance import metadata_columns
from umi_dst.backends.lance.filter_sql import WhereWriter

from umi_dst.contract import Embedding, InvalidInput, SearchResult
from umi_dst.filters import MATCH_ALL, Filter, parse_filter
from umi_dst.metadata import Metadata, split_batch, validate_metadata
from umi_dst.validation import (
    last_wins,
    validate_batch,
    validate_dim,
    validate_embedding,
    validate_id,
    validate_limit,
)

T = TypeVar("T")

MAINTENANCE = ("build_index", "cleanup_versions", "optimize")
"""The maintenance operations a Lance store declares (``LanceVectorBackend.maintain``)."""

TABLE_NAME = "vectors"
ID_COLUMN = "id"
VECTOR_COLUMN = "embedding"

PRIMARY_KEY_MARKER = {"lance-schema:unenforced-primary-key": "true"}
"""Declares ``id`` the table's primary key. Without it, two writers that ``merge_insert`` the
same new id concurrently both insert it, and the table holds a duplicate (lance#4585); with
it, Lance records the inserted keys and the later commit conflicts and is retried."""

CONFLICT_MARKERS = ("commit conflict", "preempted", "too many concurrent writers", "incompatible transaction")


class CommitConflict(RuntimeError):
    """A write lost every commit race it was allowed to retry; it was not applied."""


def is_commit_conflict(error: BaseException) -> bool:
    """Whether Lance rejected a commit because another writer committed first."""
    message = str(error).lower()
    return any(marker in message for marker in CONFLICT_MARKERS)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with seeded jitter for commits that lose a race.

    The delay doubles from ``base_delay`` up to ``max_delay``; with ``jitter`` each sleep is
    drawn from [delay/2, delay] by ``random.Random(seed)``, so a run is repeatable while
    racing writers still spread out.
    """

    attempts: int = 8
    base_delay: float = 0.005
    max_delay: float = 0.2
    jitter: bool = True
    seed: int = 0
    retry_on: Callable[[BaseException], bool] = is_commit_conflict

    def runner(self) -> RetryRunner:
        return RetryRunner(self, random.Random(self.seed))


@dataclass
class RetryRunner:
    """One connection's retry state: the jitter generator and how many retries it spent."""

    policy: RetryPolicy
    rng: random.Random
    retries: int = 0

    def run(self, operation: Callable[[], T], what: str) -> T:
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            try:
                return operation()
            except Exception as error:
                if not policy.retry_on(error):
                    raise
                if attempt == policy.attempts:
                    raise CommitConflict(f"{what}: gave up after {attempt} commit attempts: {error}") from error
                delay = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
                self.retries += 1
                time.sleep(delay * (0.5 + 0.5 * self.rng.random()) if policy.jitter else delay)
        raise AssertionError("unreachable: attempts must be at least 1")


@dataclass(frozen=True)
class IndexPlan:
    """Approximate mode: which ANN index, when it is built, and how searches use it.

    The index is an IVF-HNSW with scalar-quantised vectors (``IVF_HNSW_SQ``) over cosine
    distance. Quantised distances are approximate, so every search re-ranks
    ``refine_factor * limit`` candidates on the stored float32 vectors: scores stay exact,
    only the candidate set is approximate. Rows written after the build are not in the
    index; Lance scans them flat and merges them into every result.
    """

    min_rows: int = 8
    num_partitions: int = 1
    m: int = 20
    ef_construction: int = 300
    ef: int = 512
    refine_factor: int = 20
    """Search breadth and re-ranking: at 10,000 random records of dim 1536 the recall battery
    measured 0.73 at ef 64 / refine 4, 0.90 at 256 / 10, 0.96 at 512 / 20 (reports/recall-sweep.md)."""
    recall_floor: float = 0.9

    def config(self) -> HnswSq:
        return HnswSq(
            distance_type="cosine",
            num_partitions=self.num_partitions,
            m=self.m,
            ef_construction=self.ef_construction,
        )


BYPASSED_INDEX = IndexPlan(m=8, ef_construction=40)
"""The index ``build_index`` builds in exact mode, where every search bypasses it: the same kind
as approximate mode's, over a sparser graph built with less effort, since what is checked there
is that the index and its maintenance change no result, which no graph setting can excuse."""


@dataclass(frozen=True)
class CompactionPolicy:
    """Compact (``optimize()``: merge small fragments, apply deletion files, fold new rows
    into the index) after every ``every`` commits of one connection.

    A read's and a merge's cost grow with the number of fragments, and a compaction's with the
    table's history (lancedb's ``optimize()`` also prunes old versions, reading every version's
    manifest, and rewrites every fragment under a million rows): the period trades the one
    against the other, and was chosen by measuring them side by side (reports/lance-writes.md,
    reports/lance-compaction.md).

    A compaction is one logically neutral commit; one that loses every commit race is skipped
    until the next turn, since the write it follows has already been acknowledged.
    """

    every: int = 32

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"CompactionPolicy.every must be at least 1, got {self.every}")


@dataclass(frozen=True)
class LanceStore:
    """Where a store lives and how connections to it behave; plain data, so it can be
    handed to a writer process."""

    path: str
    dim: int
    table_name: str = TABLE_NAME
    index: IndexPlan | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    read_consistency: timedelta | None = timedelta(0)
    compaction: CompactionPolicy | None = field(default_factory=CompactionPolicy)

    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(ID_COLUMN, pa.string(), nullable=False, metadata=PRIMARY_KEY_MARKER),
                pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), self.dim), nullable=False),
            ]
        )

    def table_dir(self) -> Path:
        return Path(self.path) / f"{self.table_name}.lance"


def to_arrow(
    store: LanceStore,
    items: Sequence[tuple[str, Embedding]],
    metadatas: list[Metadata] | None = None,
    schema: pa.Schema | None = None,
) -> pa.Table:
    """Rows as an Arrow table: the float32 bytes go in unchanged. With ``schema`` (the table's),
    every metadata column it has is written, null where a row's metadata has no value."""
    matrix = np.stack([vector for _, vector in items]) if items else np.empty((0, store.dim), np.float32)
    embeddings = pa.FixedSizeListArray.from_arrays(pa.array(matrix.astype(np.float32, copy=False).ravel()), store.dim)
    ids = pa.array([id for id, _ in items], pa.string())
    base = pa.Table.from_arrays([ids, embeddings], schema=store.schema())
    if schema is None:
        return base
    arrays = metadata_columns.metadata_arrays(schema, metadatas or [{}] * len(items))
    for name, array in arrays.items():
        base = base.append_column(schema.field(name), array)
    return base


def vectors_of(column: pa.ChunkedArray, dim: int) -> np.ndarray:
    """The float32 matrix held by a FixedSizeList column, copied out of Arrow."""
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.array(flat, dtype=np.float32).reshape(-1, dim)


class LanceVectorBackend:
    """One connection to one LanceDB table (CONTRACT §2).

    The factory creates the table when it makes the store (see ``LanceFactory``); a store
    whose table does not exist yet reads as empty, and its first write creates it.
    ``commit_retries`` counts conflicts this connection retried (its own backoff plus
    Lance's internal merge retries), so tests can show that races really happened.
    """

    where_writer: type[WhereWriter] = WhereWriter
    """How filters become ``where`` strings (``filter_sql``)."""

    scan_from = 2
    """Reading back two ids or more, the harness scans: a Lance read costs about the same query
    plan whether it filters one id or returns the whole table (a crash state's read-back of
    16 ids went from 16 queries to 1)."""

    def __init__(self, store: LanceStore) -> None:
        validate_dim(store.dim)
        self.config = store
        self.dim = store.dim
        self._loop = asyncio.new_event_loop()
        self._db: AsyncConnection = self.run(
            lancedb.connect_async(store.path, read_consistency_interval=store.read_consistency)
        )
        self._table: AsyncTable | None = None
        self._retry = store.retry.runner()
        self._merge_retries = 0
        self._indexed = False
        self._commits_since_compaction = 0

    def __repr__(self) -> str:
        mode = "approximate" if self.config.index else "exact"
        return f"{type(self).__name__}({self.config.path!r}, dim={self.dim}, {mode})"

    def run(self, call: Awaitable[T]) -> T:
        """One of lancedb's async calls, run to completion on this connection's loop."""
        return self._loop.run_until_complete(call)

    @property
    def table(self) -> AsyncTable | None:
        """The Lance table (lancedb's async API: ``run`` its calls), or None while the store
        has never been written."""
        if self._table is None:
            try:
                self._table = self.run(self._db.open_table(self.config.table_name))
            except ValueError:
                return None
        return self._table

    @property
    def commit_retries(self) -> int:
        return self._retry.retries + self._merge_retries

    def ensure_table(self) -> AsyncTable:
        """Open the table, creating it empty if it does not exist yet.

        Not safe against a concurrent creator: two racing ``create_table`` calls both
        succeed, the later as an Overwrite commit that drops rows written in between. So
        the factory creates the table once, before any connection writes."""
        table = self.table
        if table is None:
            self._table = table = self.run(
                self._db.create_table(self.config.table_name, schema=self.config.schema(), exist_ok=True)
            )
        return table

    # -- writes -------------------------------------------------------------------------
    def store(self, id: str, embedding: Embedding, metadata: Metadata | None = None) -> None:
        id = validate_id(id)
        vector = validate_embedding(embedding, self.dim)
        self._upsert([(id, vector)], [validate_metadata(metadata)])

    def store_batch(self, items: Sequence[tuple]) -> None:
        pairs, metadatas = split_batch(items)
        latest = dict(zip((id for id, _ in pairs), metadatas))
        checked = last_wins(validate_batch(pairs, self.dim))
        if checked:
            self._upsert(checked, [latest[id] for id, _ in checked])

    def delete_where(self, filter: dict) -> int:
        """Delete every record the filter selects in one commit (a deletion file); return how many."""
        node = parse_filter(filter)
        table = self.table
        if table is None:
            return 0
        where = self._where(table, node)
        if not self._matches(table, where):
            return 0  # nothing to delete, nothing to commit
        result = self._retry.run(lambda: self.run(table.delete(where)), "delete_where")
        self._committed(table)
        return result.num_deleted_rows

    def delete(self, id: str) -> bool:
        where = self._id_filter(validate_id(id))
        table = self.table
        if table is None or not self._matches(table, where):
            return False  # linearised at the read: nothing to delete, nothing to commit
        result = self._retry.run(lambda: self.run(table.delete(where)), "delete")
        self._committed(table)
        return result.num_deleted_rows > 0

    def _upsert(self, items: list[tuple[str, Embedding]], metadatas: list[Metadata] | None = None) -> None:
        """All items in one merge commit, so a batch is applied whole or not at all; every
        metadata column is written (null where a row has no such value), which replaces the
        metadata whole. A column a row needs is first added, all null, in a commit of its own."""
        table = self.ensure_table()
        rows = to_arrow(self.config, items, metadatas, self._schema_with(table, metadatas or []))

        def merge():
            return self.run(
                table.merge_insert(ID_COLUMN).when_matched_update_all().when_not_matched_insert_all().execute(rows)
            )

        result = self._retry.run(merge, "upsert")
        self._merge_retries += result.num_attempts - 1
        self._index_when_ready(table)
        self._committed(table)

    def _schema_with(self, table: AsyncTable, metadatas: list[Metadata]) -> pa.Schema:
        """The table's schema, after adding the metadata columns ``metadatas`` need."""
        schema = self.run(table.schema())
        missing = [f for name, f in metadata_columns.needed_fields(metadatas).items() if name not in schema.names]
        if missing:

            def add() -> None:
                present = set(self.run(table.schema()).names)
                wanted = [f for f in missing if f.name not in present]
                if wanted:
                    self.run(table.add_columns(wanted))

            self._retry.run(add, "add metadata columns")
            schema = self.run(table.schema())
        return schema

    def _committed(self, table: AsyncTable) -> None:
        """Count a commit of this connection; compact when the policy says so."""
        policy = self.config.compaction
        if policy is None:
            return
        self._commits_since_compaction += 1
        if self._commits_since_compaction >= policy.every:
            self._commits_since_compaction = 0
            try:
                self._retry.run(lambda: self.run(table.optimize()), "compaction")
            except CommitConflict:
                pass  # lost every race to other writers: compact at the next turn

    def _index_when_ready(self, table: AsyncTable) -> None:
        plan = self.config.index
        if plan is None or self._indexed:
            return
        if any(index.columns == [VECTOR_COLUMN] for index in self.run(table.list_indices())):
            self._indexed = True
        elif self.run(table.count_rows()) >= plan.min_rows:
            self._retry.run(lambda: self.run(table.create_index(VECTOR_COLUMN, config=plan.config())), "create index")
            self._indexed = True

    def optimize(self) -> None:
        """Compact fragments and fold new rows into the index (a logically neutral commit)."""
        table = self.table
        if table is not None:
            self._retry.run(lambda: self.run(table.optimize()), "optimize")

    def maintain(self, operation: str) -> None:
        """Run one of ``MAINTENANCE`` with lancedb's own call (the ``Maintained`` capability).

        ``build_index`` (re)builds the ANN index over every row now stored, replacing any index
        (in exact mode too, as ``BYPASSED_INDEX``: searches bypass it, so it must change
        nothing); ``optimize`` compacts, applies deletion files and folds unindexed rows into
        the index; ``cleanup_versions`` does the same and removes every version but the latest.
        """
        if operation not in MAINTENANCE:
            raise InvalidInput(f"unknown maintenance operation {operation!r}; Lance offers {MAINTENANCE}")
        table = self.ensure_table()
        config = (self.config.index or BYPASSED_INDEX).config()
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "build_index": lambda: table.create_index(VECTOR_COLUMN, replace=True, config=config),
            "optimize": table.optimize,
            "cleanup_versions": lambda: table.optimize(cleanup_older_than=timedelta(0)),
        }
        with warnings.catch_warnings():  # that readers of older versions fail: this connection reads the latest
            warnings.filterwarnings("ignore", r"optimize\(cleanup_older_than=0\)", UserWarning)
            self._retry.run(lambda: self.run(calls[operation]()), operation)

    def unindexed_rows(self) -> int | None:
        """Rows an approximate search reaches only by the flat scan beside the ANN index
        (written since the index was built or last folded them in); ``None`` in exact mode
        or with no index yet, where every search is a flat scan (coverage)."""
        table = self.table
        if table is None or self.config.index is None:
            return None
        stats = self.run(table.index_stats(f"{VECTOR_COLUMN}_idx"))
        return None if stats is None else stats.num_unindexed_rows

    # -- reads --------------------------------------------------------------------------
    def _id_filter(self, id: str) -> Expr | str:
        """A predicate matching exactly ``id``; the id travels as a literal value."""
        return col(ID_COLUMN) == lit(id)

    def _matches(self, table: AsyncTable, where: Expr | str) -> bool:
        return self.run(table.query().where(where).select([ID_COLUMN]).limit(1).to_arrow()).num_rows > 0

    def _rows_with_id(self, id: str, columns: list[str]) -> pa.Table | None:
        table = self.table
        if table is None:
            return None
        return self.run(table.query().where(self._id_filter(id)).select(columns).limit(2).to_arrow())

    def get_metadata(self, id: str) -> Metadata | None:
        id = validate_id(id)
        table = self.table
        if table is None:
            return None
        columns = metadata_columns.metadata_columns(self.run(table.schema()))
        rows = self._rows_with_id(id, [ID_COLUMN, *columns])
        if rows is None or rows.num_rows == 0:
            return None
        return metadata_columns.metadata_of(rows.to_pylist()[0])

    def _where(self, table: AsyncTable, node: Filter) -> str:
        return self.where_writer(set(self.run(table.schema()).names)).write(node)

    def get(self, id: str) -> Embedding | None:
        rows = self._rows_with_id(validate_id(id), [VECTOR_COLUMN])
        if rows is None or rows.num_rows == 0:
            return None
        return vectors_of(rows[VECTOR_COLUMN], self.dim)[0]

    def exists(self, id: str) -> bool:
        where = self._id_filter(validate_id(id))
        table = self.table
        return table is not None and self._matches(table, where)

    def count(self) -> int:
        table = self.table
        return 0 if table is None else self.run(table.count_rows())

    def scan(self) -> tuple[list[str], np.ndarray]:
        """Every record in one Arrow read (the optional ``FullScan`` capability)."""
        table = self.table
        if table is None:
            return [], np.empty((0, self.dim), dtype=np.float32)
        rows = self.run(table.to_arrow())
        return rows[ID_COLUMN].to_pylist(), vectors_of(rows[VECTOR_COLUMN], self.dim)

    def scan_metadata(self) -> tuple[list[str], list[Metadata]]:
        """Every record's metadata in one Arrow read (the optional ``MetadataScan`` capability)."""
        table = self.table
        if table is None:
            return [], []
        columns = metadata_columns.metadata_columns(self.run(table.schema()))
        rows = self.run(table.query().select([ID_COLUMN, *columns]).to_arrow())
        return rows[ID_COLUMN].to_pylist(), [metadata_columns.metadata_of(row) for row in rows.to_pylist()]

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        """The nearest ``limit`` records among those ``filter`` selects, the filter applied
        before the vector search (Lance's prefilter), never to its first ``limit`` results.

        An approximate search that comes back short of ``limit`` while more rows match (an
        index searched under a selective mask can run out of reachable candidates) is redone
        as an exact scan of the matching rows: the contract counts a short answer as wrong.
        """
        vector = validate_embedding(query, self.dim, "query")
        limit = validate_limit(limit)
        node = MATCH_ALL if filter is None else parse_filter(filter)
        table = self.table
        if table is None:
            return []
        where = None if node == MATCH_ALL else self._where(table, node)
        rows = self._nearest(self._vector_query(table, vector, limit), where, limit)
        if where is not None and self.config.index is not None and rows.num_rows < limit:
            if self.run(table.count_rows(where)) > rows.num_rows:
                rows = self._nearest(self._exact_query(table, vector), where, limit)
        distances = rows["_distance"].to_numpy().astype(np.float64)
        return [SearchResult(id, score) for id, score in zip(rows[ID_COLUMN].to_pylist(), self._scores(distances))]

    def search_plan(self, query: Embedding, limit: int) -> str:
        """Lance's physical plan for ``search(query, limit)``: shows flat scan or ANN index."""
        table = self.ensure_table()
        vector = validate_embedding(query, self.dim, "query")
        return self.run(self._vector_query(table, vector, validate_limit(limit)).explain_plan())

    def _nearest(self, query: AsyncVectorQuery, where: str | None, limit: int) -> pa.Table:
        if where is not None:
            query = query.where(where)  # a prefilter: lancedb's default for vector queries
        return self.run(query.select([ID_COLUMN, "_distance"]).limit(limit).to_arrow())

    def _exact_query(self, table: AsyncTable, vector: Embedding) -> AsyncVectorQuery:
        return table.query().nearest_to(vector).column(VECTOR_COLUMN).distance_type("cosine").bypass_vector_index()

    def _vector_query(self, table: AsyncTable, vector: Embedding, limit: int) -> AsyncVectorQuery:
        plan = self.config.index
        if plan is None:
            return self._exact_query(table, vector)
        query = table.query().nearest_to(vector).column(VECTOR_COLUMN).distance_type("cosine")
        # maximum_nprobes(0): keep probing partitions until `limit` rows are found; HNSW
        # needs ef at least the number of candidates handed to the refine step.
        ef = max(plan.ef, limit * plan.refine_factor)
        return query.maximum_nprobes(0).ef(ef).refine_factor(plan.refine_factor)

    def _scores(self, distances: np.ndarray) -> list[float]:
        """Lance's cosine distance is 1 - cosine similarity."""
        return (1.0 - distances).tolist()

    def close(self) -> None:
        self._table = None
        self._db = None
        self._loop.close()
