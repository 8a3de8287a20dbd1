"""``langchain-postgres``'s ``PGVector`` on the project's embedded PostgreSQL.

``PGVector`` keeps every collection in two shared tables, ``langchain_pg_collection`` and
``langchain_pg_embedding``, so each store gets a schema of its own (first on the connection's
``search_path``, before ``public`` where the ``vector`` type lives) and ``destroy`` drops it.
Its score is the cosine distance. No ``embedding_length``: the ORM classes it sets are
built once per process, so every later store would keep the first one's dimension
(docs/adapters.md, findings); the adapter checks the dimension itself. langchain-postgres (every release up to 0.0.19) requires
``pgvector<0.4``, below the project's pin, so it runs only in an environment of its own
(docs/adapters.md, langchain-postgres). An exported seed builds the store with ``schema_at`` on
the URL its command line names, and drops its schema with ``drop_schema`` (``script_build``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector
from psycopg import sql
from sqlalchemy import text
from umi_dst.backends.postgres.server import admin_connection, new_schema_name, server

from umi_dst.adapters.langchain import ExactEmbeddings, LangChainStore
from umi_dst.adapters.scores import ScoreConvention
from umi_dst.adapters.script_build import ScriptBuild

COLLECTION = "umi"


def embedded_store(workdir: Path, embeddings: ExactEmbeddings) -> PGVector:
    server().claim_schemas()
    schema = new_schema_name()
    with admin_connection(server()) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return in_schema(server().url, schema, embeddings)


def in_schema(url: str, schema: str, embeddings: Embeddings) -> PGVector:
    """``PGVector`` on the server at ``url`` whose tables go in ``schema``, first on its path."""
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    options = quote(f"-csearch_path={schema},public")
    separator = "&" if "?" in url else "?"
    store = PGVector(
        embeddings,
        connection=f"{url}{separator}options={options}",
        collection_name=COLLECTION,
        create_extension=False,
    )
    store.umi_schema = schema
    return store


def schema_at(url: str, embeddings: Embeddings) -> PGVector:
    """The store as an exported script builds it (``python repro.py postgresql://...``), with
    langchain-postgres's API and psycopg only: in a fresh schema of the server at ``url``."""
    schema = f"umi_repro_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return in_schema(url, schema, embeddings)


def drop_schema(store: PGVector) -> None:
    """What ends a script's run: the store's schema dropped through its own engine."""
    with store._engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{store.umi_schema}" CASCADE'))
    store._engine.dispose()


def drop(store: PGVector) -> None:
    store._engine.dispose()
    with admin_connection(server()) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(store.umi_schema)))


pgvector = LangChainStore(
    name="langchain-postgres",
    build=embedded_store,
    score=ScoreConvention.COSINE_DISTANCE,
    close=drop,
    packages=("langchain-core", "langchain-postgres", "psycopg", "pgvector"),
    script_build=ScriptBuild(
        schema_at,
        argument="postgresql://USER@HOST:PORT/DBNAME",
        needs="a PostgreSQL server with pgvector",
        close=drop_schema,
    ),
)
