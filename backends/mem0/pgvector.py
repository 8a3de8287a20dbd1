"""mem0's ``PGVector`` store on the project's embedded PostgreSQL (``umi_dst.backends.postgres.server``).

Each store is a table of its own in the server's default schema, named afresh, so stores never
share records; ``destroy`` closes mem0's connection pool and drops the table. Its search
reports ``max(0, 1 - distance)``, so every negative cosine comes back as 0: the scores are
declared lossy and recomputed from the records (docs/adapters.md, findings). An exported
seed builds the store with ``table_at`` on the URL its command line names, and drops it with
``drop_table`` (``script_build``): mem0's API only.

``filtered`` is the same store declared with metadata and equality filters
(``umi_dst.adapters.mem0_filters``, mem0's ``{"eq": v}``). It is not the registered store: its
filters compare ``payload->>key`` with ``str(value)`` (``eq 1`` selects the string "1", not
1.0; ``eq True`` nothing), and its jsonb column reads ``-0.0`` back as ``0.0`` and ``1e300`` as
an int (docs/adapters.md, findings).
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

from mem0.vector_stores.pgvector import PGVector
from psycopg import sql
from umi_dst.backends.postgres.server import admin_connection, server

from umi_dst.adapters.mem0 import Mem0Store
from umi_dst.adapters.mem0_filters import MEM0_EQUALITY, equality_filters, operator_equal
from umi_dst.adapters.script_build import ScriptBuild


def embedded_store(workdir: Path, dim: int) -> PGVector:
    server().claim_schemas()
    with admin_connection(server()):  # creates the vector extension once, serialised
        pass
    return table_at(server().url, dim)


def table_at(url: str, dim: int) -> PGVector:
    """mem0's ``PGVector`` in a fresh table of the server at ``url``: the store as an exported
    script builds it (``python repro.py postgresql://...``), with mem0's API only."""
    return PGVector(
        dbname=None, collection_name=f"umi_mem0_{uuid.uuid4().hex[:12]}", embedding_model_dims=dim, user=None,
        password=None, host=None, port=None, diskann=False, hnsw=False, connection_string=url,
    )  # fmt: skip


def drop_table(store: PGVector) -> None:
    """What ends a script's run: the table dropped, mem0's pool closed."""
    store.delete_col()
    store.connection_pool.close()


def drop(store: PGVector) -> None:
    store.connection_pool.close()
    with admin_connection(server()) as connection:
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(store.collection_name)))


pgvector = Mem0Store(
    name="mem0-pgvector",
    build=embedded_store,
    has_scores=False,
    close=drop,
    packages=("mem0ai", "psycopg", "psycopg-pool"),
    script_build=ScriptBuild(
        table_at,
        argument="postgresql://USER@HOST:PORT/DBNAME",
        needs="a PostgreSQL server with pgvector",
        close=drop_table,
    ),
)


filtered = dataclasses.replace(pgvector, filter_argument=equality_filters(operator_equal), filter_support=MEM0_EQUALITY)
"""``pgvector`` with metadata and equality filters; fails on mem0's text comparison (module docstring)."""
