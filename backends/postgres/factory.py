"""The PostgreSQL factories: one store (a schema holding one table) on the process's server,
its connections, and the faults it offers (see ``store`` for the design).

Kept apart from ``store`` so the faults can import the backend without it importing them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg import sql
from psycopg.types import TypeInfo
from umi_dst.backends.postgres.crash_points import nemeses_for
from umi_dst.backends.postgres.server import Server, admin_connection, new_schema_name, server, server_versions
from umi_dst.backends.postgres.store import (
    APPROXIMATE_MAINTENANCE,
    CONCURRENT_MAINTENANCE,
    DEFAULT_EF_SEARCH,
    DEFAULT_INDEX_MIN_ROWS,
    DEFAULT_RECALL_FLOOR,
    EXACT_MAINTENANCE,
    INLINE_STORAGE,
    PostgresVectorBackend,
)

from umi_dst.contract import DEFAULT_SCORE_ATOL, Nemesis
from umi_dst.export.calls import renderer_at
from umi_dst.validation import validate_dim

TEMP_BUFFERS = "256MB"
INDEX_MIN_ROWS = (8, 100, 1000)
"""Rows at which an approximate store builds its index on its own, as a case may draw it."""

_vector_types: dict[str, TypeInfo] = {}


def vector_type(server: Server, connection: psycopg.Connection) -> TypeInfo:
    """pgvector's ``vector`` type as ``server`` defines it, fetched once per server.

    pgvector's ``register_vector`` asks the server for four types on every connection; the
    backend needs only ``vector``, whose oid stays the same for the life of the extension."""
    if server.url not in _vector_types:
        _vector_types[server.url] = TypeInfo.fetch(connection, "vector")
    return _vector_types[server.url]


@dataclass
class PostgresFactory:
    """One store (a schema holding one table) on the process's server; see module docstring.

    The table is created when the factory is built; ``destroy`` drops the schema.
    """

    dim: int
    name: str = "postgres"
    ef_search: int | None = None
    index_min_rows: int = DEFAULT_INDEX_MIN_ROWS
    recall_floor: float | None = None
    score_atol: float = DEFAULT_SCORE_ATOL
    server: Server = field(default_factory=server)
    schema: str = field(default_factory=new_schema_name)
    table_name: str = "vectors"
    filters: bool = False
    """Whether the harness generates metadata and filters for it (docs/filters.md)."""
    nemeses: Mapping[str, Nemesis] = field(init=False)

    def __post_init__(self) -> None:
        validate_dim(self.dim)
        self.server.claim_schemas()
        with admin_connection(self.server) as connection:
            with connection.transaction():
                connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
                for statement in self._create_statements():
                    connection.execute(statement)
        self.nemeses = nemeses_for(self)

    def __getstate__(self) -> dict:
        """Pickled without nemeses: the copy rebuilds those its own view of the server allows."""
        return {key: value for key, value in self.__dict__.items() if key != "nemeses"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.nemeses = nemeses_for(self)

    @property
    def approximate(self) -> bool:
        return self.ef_search is not None

    @property
    def maintenance(self) -> tuple[str, ...]:
        """The maintenance operations the machine runs as steps (``PostgresVectorBackend.maintain``)."""
        return APPROXIMATE_MAINTENANCE if self.approximate else EXACT_MAINTENANCE

    @property
    def concurrent_maintenance(self) -> tuple[str, ...]:
        """The maintenance the parallel mode runs on a client while others read and write."""
        return CONCURRENT_MAINTENANCE

    @property
    def schedules(self) -> dict[str, tuple[int, ...]]:
        """The automatic schedule a case may set: the rows at which approximate mode builds its index."""
        return {"index_min_rows": INDEX_MIN_ROWS} if self.approximate else {}

    def schedule(self, setting: str, value: int) -> None:
        """Apply a schedule to the connections opened from now on."""
        if setting not in self.schedules:
            raise ValueError(f"{self.name} has no schedule {setting!r}; it has {sorted(self.schedules)}")
        self.index_min_rows = value

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table_name)

    def _create_statements(self) -> list[sql.Composable]:
        """The table; in approximate mode its index comes later (``_index_when_ready``)."""
        return [
            sql.SQL(
                "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}) STORAGE MAIN NOT NULL, "
                "metadata jsonb NOT NULL DEFAULT '{{}}') {}"
            ).format(self.table, sql.Literal(self.dim), INLINE_STORAGE)
        ]

    def open(self) -> PostgresVectorBackend:
        return PostgresVectorBackend(self._connect(), self.table, self.dim, self.ef_search, self.index_min_rows)

    def _connect(self) -> psycopg.Connection:
        # temp_buffers: bulk upserts stage in memory; set in the startup packet, no round trip.
        connection = self.server.connect(autocommit=True, options=f"-c temp_buffers={TEMP_BUFFERS}")
        register_vector_info(connection, vector_type(self.server, connection))
        return connection

    def destroy(self) -> None:
        with admin_connection(self.server) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def versions(self) -> dict[str, str]:
        with self.server.connect() as connection:
            found = server_versions(connection)
        return {"psycopg": psycopg.__version__, "pgvector-python": version("pgvector"), **found}


def exact_factory(workdir: Path, dim: int) -> PostgresFactory:
    """Registered builder for ``postgres``: sequential-scan search. ``workdir`` is unused."""
    return PostgresFactory(dim=dim, filters=True)


exact_factory.export_calls = renderer_at("umi_dst.backends.postgres.export:exact_calls")


def approximate_factory(workdir: Path, dim: int) -> PostgresFactory:
    """Registered builder for ``postgres-approx``: HNSW search with a recall floor."""
    return PostgresFactory(
        dim=dim, name="postgres-approx", ef_search=DEFAULT_EF_SEARCH, recall_floor=DEFAULT_RECALL_FLOOR, filters=True
    )


approximate_factory.export_calls = renderer_at("umi_dst.backends.postgres.export:approximate_calls")
