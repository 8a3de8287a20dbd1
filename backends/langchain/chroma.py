"""``langchain-chroma``'s ``Chroma`` on an embedded, persistent Chroma in the working directory.

The collection is made with the cosine space (Chroma's default is squared L2). The store has no
``similarity_search_with_score_by_vector``; its ``similarity_search_by_vector_with_relevance_scores``
returns Chroma's distance, not a relevance, as its docstring says ("Lower score represents more
similarity"): here the cosine distance.

``where_filtered`` is the same store declared with metadata and Chroma's ``where`` dict as its
filter (``umi_dst.adapters.chroma_where``: the contract's dialect less ``$not``, ``$exists``
and string ranges). Its ``add_texts`` is Chroma's ``upsert``, which merges a held record's
metadata with the new one (keys the new metadata lacks stay, chroma-core/chroma#1630), so an
upsert deletes the record first. It is not the registered store: Chroma reads a float back
one ulp off when its shortest form needs 17 digits, and ``-0.0`` as ``0.0``, and compares an
int with a float inexactly (``$eq 0.5`` selects the int 0; docs/adapters.md, findings), so its
campaigns fail.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import chromadb
from chromadb.config import Settings
from langchain_chroma import Chroma

from umi_dst.adapters.chroma_where import CHROMA_WHERE, where_of
from umi_dst.adapters.langchain import ExactEmbeddings, LangChainStore
from umi_dst.adapters.scores import ScoreConvention

COLLECTION = "umi"


def embedded_store(workdir: Path, embeddings: ExactEmbeddings) -> Chroma:
    client = chromadb.PersistentClient(path=str(workdir / "chroma"), settings=Settings(anonymized_telemetry=False))
    return Chroma(
        collection_name=COLLECTION,
        embedding_function=embeddings,
        client=client,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )


chroma = LangChainStore(
    name="langchain-chroma",
    build=embedded_store,
    score=ScoreConvention.COSINE_DISTANCE,
    scored_search="similarity_search_by_vector_with_relevance_scores",
    count=lambda store: store._collection.count(),
    close=lambda store: store._client.close(),
    packages=("langchain-core", "langchain-chroma", "chromadb"),
)


where_filtered = dataclasses.replace(
    chroma, replaces_on_add=False, filter_argument=where_of, filter_support=CHROMA_WHERE
)
"""``chroma`` with metadata and filters; its seed (``seeds/umi_dst.backends.langchain.chroma-where_filtered/``) fails."""
