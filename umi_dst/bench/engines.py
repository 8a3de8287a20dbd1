"""What the bench reads from (and does to) a backend's engine beyond the contract.

The contract says nothing about fragments, versions, index knobs or table sizes; the Lance
and Postgres backends expose them (the Lance table and its ``IndexPlan``, the Postgres
connection, table name and ``ef_search``). This module is the one place that knows those
hooks, so every other bench module stays engine-agnostic. A backend it does not know has
no engine facts, no maintenance step and no knob to sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from umi_dst.contract import BackendFactory, VectorBackend
from umi_dst.filters import parse_filter


def is_lance(backend: VectorBackend) -> bool:
    return type(backend).__module__ == "umi_dst.backends.lance.store" and hasattr(backend, "table")


def is_postgres(backend: VectorBackend) -> bool:
    return type(backend).__module__ == "umi_dst.backends.postgres.store" and hasattr(backend, "connection")


def facts(factory: BackendFactory, backend: VectorBackend) -> dict:
    """Engine state worth reporting now: Lance fragments and versions, Postgres relation sizes."""
    if is_lance(backend) and backend.table is not None:
        table = backend.table
        stats = backend.run(table.stats())
        return {
            "fragments": stats["fragment_stats"]["num_fragments"],
            "small_fragments": stats["fragment_stats"]["num_small_fragments"],
            "versions": len(backend.run(table.list_versions())),
            "indices": stats["num_indices"],
            "data_mib": stats["total_bytes"] / 2**20,
        }
    if is_postgres(backend):
        table = factory.table.as_string(backend.connection)
        row = backend.connection.execute(
            "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)", (table, table)
        ).fetchone()
        return {"table_mib": row[0] / 2**20, "indexes_mib": row[1] / 2**20}
    return {}


def maintenance(backend: VectorBackend) -> Callable[[], None] | None:
    """The engine's compaction step (Lance ``optimize()``), or None if it has none."""
    return backend.optimize if is_lance(backend) else None


def disk_mib(factory: BackendFactory, backend: VectorBackend, workdir: Path) -> float | None:
    """Size of the store as the engine counts it, or None to measure the working directory."""
    if is_postgres(backend):
        table = factory.table.as_string(backend.connection)
        return backend.connection.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()[0] / 2**20
    return None


# -- approximate-search knobs -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Knob:
    """One search-time parameter of an approximate backend, and the values to sweep."""

    name: str
    values: tuple[int, ...]
    set: Callable[[int], None]
    default: int


def knobs(backend: VectorBackend) -> list[Knob]:
    """The search knobs of an approximate backend (none for an exact one)."""
    if is_postgres(backend) and backend.ef_search is not None:

        def set_ef_search(value: int) -> None:
            backend.ef_search = value

        return [Knob("hnsw.ef_search", (10, 20, 40, 80, 160, 320), set_ef_search, backend.ef_search)]
    if is_lance(backend) and backend.config.index is not None:
        plan = backend.config.index

        def setter(field: str) -> Callable[[int], None]:
            def set_value(value: int) -> None:
                backend.config = dataclasses.replace(backend.config, index=dataclasses.replace(plan, **{field: value}))

            return set_value

        return [
            Knob("ef", (10, 20, 40, 64, 128, 256), setter("ef"), plan.ef),
            Knob("refine_factor", (1, 2, 4, 8), setter("refine_factor"), plan.refine_factor),
        ]
    return []


def index_description(backend: VectorBackend) -> str | None:
    """The approximate backend's index, in words, for the report."""
    if is_postgres(backend) and backend.ef_search is not None:
        return f"HNSW vector_cosine_ops (m 16, ef_construction 64, pgvector defaults), ef_search {backend.ef_search}"
    if is_lance(backend) and backend.config.index is not None:
        plan = backend.config.index
        return (
            f"IVF_HNSW_SQ cosine (partitions {plan.num_partitions}, m {plan.m}, ef_construction {plan.ef_construction}),"
            f" ef {plan.ef}, refine_factor {plan.refine_factor}"
        )
    return None


# -- what the raw baselines need to match the backends ---------------------------------
def lance_raw_index(specs: tuple[str, ...]) -> dict | None:
    """The approximate Lance backend's index and query settings, for the raw baseline."""
    if "lance-approx" not in specs:
        return None
    from umi_dst.backends.lance.store import IndexPlan

    plan = IndexPlan()
    return {
        "config": plan.config(),
        "ef": plan.ef,
        "refine_factor": plan.refine_factor,
        "description": f"IVF_HNSW_SQ cosine (partitions {plan.num_partitions}, m {plan.m}, "
        f"ef_construction {plan.ef_construction}), ef {plan.ef}, refine_factor {plan.refine_factor}",
    }


def postgres_raw_hnsw(specs: tuple[str, ...]) -> dict | None:
    """``WITH (...)`` options of the approximate Postgres backend's HNSW index (pgvector defaults)."""
    if "postgres-approx" not in specs:
        return None
    from umi_dst.backends.postgres.store import DEFAULT_EF_SEARCH

    return {"with": {}, "ef_search": DEFAULT_EF_SEARCH}


def raw_filtered_query(backend: VectorBackend, limit: int) -> Callable[[np.ndarray, dict], list[str]] | None:
    """The engine's own filtered top ``limit`` on the backend's store, or None for an engine it does not know.

    It sends the filter the backend itself would send (Lance: the backend's ``where`` string
    on a plain ``lancedb`` table handle; PostgreSQL: the backend's SQL condition on its psycopg
    connection) with the same search settings, but without the backend's validation or its
    fallback for a short answer.
    """
    if is_lance(backend):
        return _raw_lance_query(backend, limit)
    if is_postgres(backend):
        return _raw_postgres_query(backend, limit)
    return None


def _raw_lance_query(backend: VectorBackend, limit: int) -> Callable[[np.ndarray, dict], list[str]]:
    import lancedb

    table = lancedb.connect(backend.config.path).open_table(backend.config.table_name)
    columns = set(table.schema.names)
    plan = backend.config.index

    def query(vector: np.ndarray, filter: dict) -> list[str]:
        where = backend.where_writer(columns).write(parse_filter(filter))
        search = table.search(vector, vector_column_name="embedding").distance_type("cosine").where(where)
        if plan is None:
            search = search.bypass_vector_index()
        else:
            search = search.maximum_nprobes(0).ef(max(plan.ef, limit * plan.refine_factor))
            search = search.refine_factor(plan.refine_factor)
        return search.select(["id", "_distance"]).limit(limit).to_arrow()["id"].to_pylist()

    return query


def _raw_postgres_query(backend: VectorBackend, limit: int) -> Callable[[np.ndarray, dict], list[str]]:
    from psycopg import sql

    from umi_dst.backends.postgres.filter_sql import condition

    connection = backend.connection

    def query(vector: np.ndarray, filter: dict) -> list[str]:
        where, params = condition(parse_filter(filter))
        statement = sql.SQL("SELECT id FROM {} WHERE {} ORDER BY embedding <=> %b LIMIT %s").format(
            backend.table, where
        )
        with connection.transaction():
            if backend.ef_search is not None:
                backend._configure(
                    ("hnsw.ef_search", str(backend.ef_search)),
                    ("hnsw.iterative_scan", "strict_order"),
                    ("enable_seqscan", "off"),
                )
            return [row[0] for row in connection.execute(statement, [*params, vector, limit]).fetchall()]

    return query


def with_postgres(action: Callable[[str], dict]) -> dict:
    """Run ``action(conninfo)`` against the server the postgres backends use in this process."""
    from umi_dst.backends.postgres.server import ensure_vector_extension, server

    pg = server()
    with pg.connect(autocommit=True) as connection:
        ensure_vector_extension(connection)
    return action(pg.url)
