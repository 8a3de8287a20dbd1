"""LanceDB's LangChain store (``langchain-community``), embedded in the working directory.

It offers neither ``get_by_ids`` nor a score-returning search by vector, so records are read
through its search. Its ``distance="cosine"`` only picks the relevance-score function, and
every search ranks by LanceDB's default, L2, unless it is given ``metrics="cosine"``
(docs/adapters.md, findings): each search is. ``mode="append"`` because its default (``"overwrite"``) replaces the whole
table on every ``add_texts``, and since an append keeps the old row of a re-added id, an
upsert deletes the record first. The table is created up front: before its first
``add_texts`` the store has none, and its search raises ``AttributeError`` (docs/adapters.md,
findings).
"""

from __future__ import annotations

import dataclasses
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
    search_kwargs={"metrics": "cosine"},
    count=_count,
    packages=("langchain-core", "langchain-community", "lancedb"),
)


as_documented = dataclasses.replace(cosine, search_kwargs={})
"""The store as its documentation has it, ``distance="cosine"`` alone: it ranks by L2, and
the finding's seed (``seeds/umi_dst.backends.langchain.lancedb-as_documented/``) fails on it."""
