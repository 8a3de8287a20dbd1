"""A planted bug of maintenance run beside other clients (issue 24), so the parallel mode's
``REINDEX CONCURRENTLY`` steps stay able to find one.

``reindex_writes_back_snapshot``: the exact PostgreSQL store whose ``reindex_concurrently``
reads every row, rebuilds the indexes, then writes the rows it read back (a rebuild "from a
snapshot" that forgets the writes other connections made meanwhile). Alone it changes nothing;
beside a writer it undoes the writes that landed during the rebuild and brings back records
deleted then, which no linearization of the history explains.
"""

from __future__ import annotations

from pathlib import Path

from umi_dst.backends.postgres.store import PostgresVectorBackend
from umi_dst.selftest.postgres_crash_mutants import MutantFactory


class ReindexWritesBackSnapshot(PostgresVectorBackend):
    """``reindex_concurrently`` restores the rows as they were when it started."""

    def maintain(self, operation: str) -> None:
        if operation != "reindex_concurrently":
            super().maintain(operation)
            return
        ids, vectors = self.scan()
        super().maintain(operation)
        if ids:
            self.store_batch(list(zip(ids, vectors)))


def reindex_writes_back_snapshot(workdir: Path, dim: int) -> MutantFactory:
    return MutantFactory(dim=dim, name="postgres-reindex-writes-back-snapshot", backend_class=ReindexWritesBackSnapshot)
