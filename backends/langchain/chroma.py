"""``langchain-chroma``'s ``Chroma`` on an embedded, persistent Chroma in the working directory.

The collection is made with the cosine space (Chroma's default is squared L2). The store has no
``similarity_search_with_score_by_vector``; its ``similarity_search_by_vector_with_relevance_scores``
returns Chroma's distance, not a relevance, as its docstring says ("Lower score represents more
similarity"): here the cosine distance.
"""

from __future__ import annotations

from pathlib import Path

import chromadb
from chromadb.config import Settings
from langchain_chroma import Chroma

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
