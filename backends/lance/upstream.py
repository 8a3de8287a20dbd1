"""The original Rust ``LanceVectorBackend`` of umi-memory, ported faithfully as a case study.

It differs from ``umi_dst.backends.lance`` only where the original did, and each difference is a
bug the contract machine finds:

- an upsert is a delete followed by an add: two commits, so a crash or a failed add between
  them loses the old row, and a batch is a loop of such upserts, not atomic;
- id filters are built as ``id = '{id}'`` with no escaping: an id with a quote breaks the
  SQL, and a crafted id matches (and deletes) other rows;
- searches use LanceDB's default metric (L2) and report ``1 / (1 + _distance)``, which is
  neither cosine similarity nor in its order;
- the connection keeps LanceDB's default settings (no read consistency interval), and the
  table is created by the first store, with its data: two first stores racing both create
  it, the later as an Overwrite that drops the other's acknowledged row;
- commit conflicts are retried up to 10 times, waiting 2^n ms, when the error says
  "Commit conflict";
- it never compacts the table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from umi_dst.backends.lance.factory import LanceFactory, build_factory
from umi_dst.backends.lance.store import VECTOR_COLUMN, LanceVectorBackend, RetryPolicy, to_arrow

from umi_dst.contract import Embedding
from umi_dst.export.calls import renderer_at
from umi_dst.validation import last_wins, validate_batch


def _says_commit_conflict(error: BaseException) -> bool:
    return "Commit conflict" in str(error)


UPSTREAM_RETRY = RetryPolicy(
    attempts=11, base_delay=0.002, max_delay=1.024, jitter=False, retry_on=_says_commit_conflict
)
"""The original's loop: 10 retries after the first attempt, sleeping 2, 4, ... 1024 ms."""


class UpstreamLanceBackend(LanceVectorBackend):
    """``LanceVectorBackend`` with the original's upsert, filters and metric."""

    def store_batch(self, items) -> None:
        for id, vector in validate_batch(items, self.dim):
            self._upsert([(id, vector)])

    def _upsert(self, items: list[tuple[str, Embedding]], metadatas=None) -> None:
        rows = to_arrow(self.config, items)  # no metadata: the original had none
        table = self.table
        if table is None:
            self._table = self.run(self._db.create_table(self.config.table_name, data=rows))
            return
        [(id, _)] = items
        where = self._id_filter(id)

        def delete_then_add() -> None:
            try:
                self.run(table.delete(where))
            except Exception:
                pass  # the original ignored a failed delete
            self.run(table.add(rows))

        self._retry.run(delete_then_add, "store")

    def _id_filter(self, id: str) -> str:
        return f"id = '{id}'"

    def _vector_query(self, table, vector: Embedding, limit: int):
        return table.query().nearest_to(vector).column(VECTOR_COLUMN)

    def _scores(self, distances: np.ndarray) -> list[float]:
        return (1.0 / (1.0 + distances)).tolist()


class BatchLoopLanceBackend(LanceVectorBackend):
    """``LanceVectorBackend`` with the original's ``store_batch`` (a loop of single upserts, one
    commit each) and table made by the first write; ids and metric fixed. A campaign against
    the original finds those other bugs first; this isolates the one only a crash shows."""

    def store_batch(self, items) -> None:
        for id, vector in last_wins(validate_batch(items, self.dim)):
            self._upsert([(id, vector)])


def batch_loop(workdir: Path, dim: int) -> LanceFactory:
    """Builder for ``umi_dst.backends.lance.upstream:batch_loop``: batches not atomic, no table made up front."""
    return build_factory(workdir, dim, name="lance-batch-loop", backend_class=BatchLoopLanceBackend, create_table=False)


batch_loop.export_calls = renderer_at("umi_dst.backends.lance.export:batch_loop_calls")


def factory(workdir: Path, dim: int) -> LanceFactory:
    """Registered builder for ``lance-upstream``."""
    return build_factory(
        workdir,
        dim,
        name="lance-upstream",
        backend_class=UpstreamLanceBackend,
        retry=UPSTREAM_RETRY,
        read_consistency=None,
        compaction=None,
        create_table=False,
    )


factory.export_calls = renderer_at("umi_dst.backends.lance.export:upstream_calls")
