"""Planted PostgreSQL crash bugs: stores that pass while nothing crashes and break across a
crash, to prove that crash points catch them.

- ``unlogged_table``: keeps its rows in an ``UNLOGGED`` table (writes skip the WAL, so they are
  faster), so every write is acknowledged before it is durable: crash recovery empties the
  table. Nothing shows it until the server crashes; then ``crash_server`` at any point does,
  in a sequential test case and in a concurrent history.
- ``commits_on_next_call``: acknowledges a write with its transaction still open and commits it
  when the connection's next call comes (a lazy commit, meant to save round trips). A crash in
  between loses a write that was acknowledged: ``crash_server`` at ``after_commit`` catches it
  (so does a concurrent reader, which does not see it yet).
- ``commits_each_row``: writes a batch as one autocommitted upsert per row (a loop over
  ``store``), so each row commits on its own. The store reopened after a crash part-way holds
  part of the batch: ``crash_server`` at ``after_statements`` catches it (the points that stand
  before a commit wrap the write in one transaction, which hides this bug).

Specs: ``umi_dst.selftest.postgres_crash_mutants:<name>``, on the process's PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from psycopg import sql
from psycopg.pq import TransactionStatus

from umi_dst.backends.postgres.factory import PostgresFactory
from umi_dst.backends.postgres.store import PostgresVectorBackend
from umi_dst.contract import Embedding, SearchResult
from umi_dst.validation import last_wins, validate_batch

T = TypeVar("T")


class CommitsOnNextCall(PostgresVectorBackend):
    """Returns from a write inside an open transaction, committed by the connection's next call."""

    _uncommitted = False

    def store(self, id: str, embedding: Embedding) -> None:
        self._left_open(super().store, id, embedding)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        self._left_open(super().store_batch, items)

    def delete(self, id: str) -> bool:
        return self._left_open(super().delete, id)

    def get(self, id: str) -> Embedding | None:
        self._commit()
        return super().get(id)

    def exists(self, id: str) -> bool:
        self._commit()
        return super().exists(id)

    def count(self) -> int:
        self._commit()
        return super().count()

    def scan(self) -> tuple[list[str], np.ndarray]:
        self._commit()
        return super().scan()

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        self._commit()
        return super().search(query, limit)

    def close(self) -> None:
        self._commit()
        super().close()

    def _left_open(self, write: Callable[..., T], *args: object) -> T:
        self._commit()
        if self.connection.info.transaction_status == TransactionStatus.IDLE:
            self.connection.execute("BEGIN")
            self._uncommitted = True
        return write(*args)

    def _commit(self) -> None:
        if self._uncommitted:
            self._uncommitted = False
            self.connection.execute("COMMIT")


class CommitsEachRow(PostgresVectorBackend):
    """Writes a batch one autocommitted upsert per row: each row is durable on its own."""

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        for row in last_wins(validate_batch(items, self.dim)):
            self.connection.execute(self._upsert_sql(), row)


@dataclass
class MutantFactory(PostgresFactory):
    """The exact PostgreSQL store, with connections of a planted-bug class (and, with
    ``unlogged``, its table made ``UNLOGGED``)."""

    backend_class: type[PostgresVectorBackend] = PostgresVectorBackend
    unlogged: bool = False

    def _create_statements(self) -> list[sql.Composable]:
        unlogged = [sql.SQL("ALTER TABLE {} SET UNLOGGED").format(self.table)] if self.unlogged else []
        return [*super()._create_statements(), *unlogged]

    def open(self) -> PostgresVectorBackend:
        return self.backend_class(self._connect(), self.table, self.dim, self.ef_search, self.index_min_rows)


def unlogged_table(workdir: Path, dim: int) -> MutantFactory:
    return MutantFactory(dim=dim, name="postgres-unlogged-table", unlogged=True)


def commits_on_next_call(workdir: Path, dim: int) -> MutantFactory:
    return MutantFactory(dim=dim, name="postgres-commits-on-next-call", backend_class=CommitsOnNextCall)


def commits_each_row(workdir: Path, dim: int) -> MutantFactory:
    return MutantFactory(dim=dim, name="postgres-commits-each-row", backend_class=CommitsEachRow)
