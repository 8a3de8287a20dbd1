"""Planted maintenance bugs: the real Lance store with one bug each of the regimes that
maintenance makes (issue 24), so the maintenance steps stay able to find them.

- ``appended_rows_never_searched``: once the index exists, searches read the index only
  (lancedb's ``fast_search``), so rows written after the build are never found until a
  compaction folds them in (lance PR #3769's regime: index deltas plus unindexed rows);
- ``compaction_resurrects_delete``: a compaction brings back the last record the connection
  deleted (a deletion file dropped while fragments are rewritten);
- ``compaction_drops_update``: a compaction puts back the vector the last record the
  connection overwrote held before (a rewrite from a stale fragment list);
- ``interrupted_build_serves_stale_snapshot``: an index build serves searches from the version
  it started from until it completes, and one cut off part-way (a crash, a killed writer)
  never lets go of it: every later search reads the vectors as they were before the build.

Each is an approximate Lance store whose factory declares the Lance maintenance operations;
``umi_dst.selftest.maintenance_mutants:<name>`` is a backend spec, like ``umi_dst.selftest.mutants``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lancedb.query import AsyncVectorQuery
from lancedb.table import AsyncTable

from umi_dst.backends.lance.factory import LanceFactory, build_factory
from umi_dst.backends.lance.store import IndexPlan, LanceStore, LanceVectorBackend
from umi_dst.contract import Embedding
from umi_dst.validation import validate_batch


class AppendedRowsNeverSearched(LanceVectorBackend):
    """Searches read the index alone: rows written after the build are not searched."""

    def _vector_query(self, table: AsyncTable, vector: Embedding, limit: int) -> AsyncVectorQuery:
        return super()._vector_query(table, vector, limit).fast_search()


class CompactionResurrectsDelete(LanceVectorBackend):
    """A maintenance compaction writes back the record this connection deleted last."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last_deleted: tuple[str, Embedding] | None = None

    def delete(self, id: str) -> bool:
        vector = self.get(id)
        deleted = super().delete(id)
        if deleted and vector is not None:
            self._last_deleted = (id, vector)
        return deleted

    def maintain(self, operation: str) -> None:
        super().maintain(operation)
        if operation != "build_index" and self._last_deleted is not None:
            self._upsert([self._last_deleted])
            self._last_deleted = None


class CompactionDropsUpdate(LanceVectorBackend):
    """A maintenance compaction restores the old vector of the record this connection overwrote last."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._overwritten: tuple[str, Embedding] | None = None

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = validate_batch(items, self.dim)  # bad input is refused before the read below
        first = checked[0][0] if checked else None  # one read per batch, not per row
        old = None if first is None else self.get(first)
        super().store_batch(items)
        if old is not None:
            self._overwritten = (first, old)

    def store(self, id: str, embedding: Embedding) -> None:
        old = self.get(id)
        super().store(id, embedding)
        if old is not None:
            self._overwritten = (id, old)

    def maintain(self, operation: str) -> None:
        super().maintain(operation)
        if operation != "build_index" and self._overwritten is not None:
            self._upsert([self._overwritten])
            self._overwritten = None


class InterruptedBuildServesStaleSnapshot(LanceVectorBackend):
    """An index build journals its start (the version it indexes) and its end in files beside
    the table, and searches read the version of a started build until its end is journaled;
    a build cut off before the end never is, so searches keep serving the vectors stored before
    it. (A correct store would drop an unfinished build's pin when it opens.) The journal files
    are written whole and never removed, so every crash state of a build shows them."""

    def __init__(self, store: LanceStore) -> None:
        super().__init__(store)
        self._journal = Path(store.path) / BUILD_JOURNAL
        self._journal.mkdir(parents=True, exist_ok=True)  # before any build, so crashes inside one see its files

    def maintain(self, operation: str) -> None:
        if operation != "build_index":
            super().maintain(operation)
            return
        build = f"{len(list(self._journal.glob('*.started'))):06d}"
        self._journal_write(f"{build}.started", str(self.run(self.ensure_table().version())))
        super().maintain(operation)
        self._journal_write(f"{build}.done", "")

    def _journal_write(self, name: str, text: str) -> None:
        temporary = self._journal / f".{name}.tmp"
        temporary.write_text(text)
        temporary.replace(self._journal / name)

    def _vector_query(self, table: AsyncTable, vector: Embedding, limit: int) -> AsyncVectorQuery:
        unfinished = [p for p in sorted(self._journal.glob("*.started")) if not p.with_suffix(".done").exists()]
        if unfinished:
            table = self.run(self._db.open_table(self.config.table_name))
            self.run(table.checkout(int(unfinished[0].read_text())))
        return super()._vector_query(table, vector, limit)


BUILD_JOURNAL = "index-builds"
"""The directory beside the table where ``InterruptedBuildServesStaleSnapshot`` journals its builds."""


MAINTENANCE_MUTANTS: dict[str, type[LanceVectorBackend]] = {
    "appended_rows_never_searched": AppendedRowsNeverSearched,
    "compaction_resurrects_delete": CompactionResurrectsDelete,
    "compaction_drops_update": CompactionDropsUpdate,
    "interrupted_build_serves_stale_snapshot": InterruptedBuildServesStaleSnapshot,
}


def _builder(name: str, backend_class: type[LanceVectorBackend]):
    def build(workdir: Path, dim: int) -> LanceFactory:
        return build_factory(workdir, dim, name=name, index=IndexPlan(), backend_class=backend_class)

    build.__name__ = build.__qualname__ = name
    return build


def control(workdir: Path, dim: int) -> LanceFactory:
    """The correct store the mutants derive from (``lance-approx``)."""
    return build_factory(workdir, dim, name="control", index=IndexPlan())


globals().update({name: _builder(name, cls) for name, cls in MAINTENANCE_MUTANTS.items()})
