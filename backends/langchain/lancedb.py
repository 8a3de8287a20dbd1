"""LanceDB's LangChain store (``langchain-community``), embedded in the working directory.

It offers neither ``get_by_ids`` nor a score-returning search by vector, so records are read
through its search; ``mode="append"`` because its default (``"overwrite"``) replaces the whole
table on every ``add_texts``, and since an append keeps the old row of a re-added id, an
upsert deletes the record first. The table is created up front: before its first
``add_texts`` the store has none, and its search raises ``AttributeError`` (docs/adapters.md,
findings).
"""

from __future__ import annotations

from pathlib import Path

import lancedb
import pyarrow as pa
from langchain_community.vectorstores import LanceDB

from umi_dst.adapters.langchain import ExactEmbeddings, LangChainStore
from umi_dst.adapters.records import ID_KEY, VECTOR_KEY

TABLE = "vectorstore"


def embedded_store(workdir: Path, embeddings: ExactEmbeddings) -> LanceDB:
    connection = lancedb.connect(str(workdir / "lancedb"))
    schema = pa.schema([
        pa.field("vector", pa.list_(pa.float32(), embeddings.dim)),
        pa.field("id", pa.string()),
        pa.field("text", pa.string()),
        pa.field("metadata", pa.struct([pa.field(ID_KEY, pa.string()), pa.field(VECTOR_KEY, pa.string())])),
    ])  # fmt: skip
    table = connection.create_table(TABLE, schema=schema)
    return LanceDB(
        connection=connection, embedding=embeddings, table_name=TABLE, table=table, distance="cosine", mode="append"
    )


def _count(store: LanceDB) -> int:
    table = store.get_table()
    return 0 if table is None else table.count_rows()


cosine = LangChainStore(
    name="langchain-lancedb",
    build=embedded_store,
    has_get_by_ids=False,
    has_scores=False,
    replaces_on_add=False,
    count=_count,
    packages=("langchain-core", "langchain-community", "lancedb"),
)
