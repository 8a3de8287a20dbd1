"""``langchain-qdrant``'s ``QdrantVectorStore`` on Qdrant's local mode (files, no server).

Qdrant takes only UUIDs and integers as point ids, so the contract's ids map to UUIDs. Its
filter is Qdrant's ``models.Filter`` over the payload's ``metadata``
(``umi_dst.adapters.qdrant_filter``: the contract's dialect less ranges over strings and over
ints no float64 equals). Every document it returns carries its point's ``_id`` and
``_collection_name`` in its metadata, as its docs show: declared as ``store_keys``.
"""

from __future__ import annotations

from pathlib import Path

from langchain_qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models

from umi_dst.adapters.langchain import ExactEmbeddings, LangChainStore
from umi_dst.adapters.qdrant_filter import QDRANT_FILTER, filter_of
from umi_dst.adapters.records import IdMapping

COLLECTION = "umi"


def local_store(workdir: Path, embeddings: ExactEmbeddings) -> QdrantVectorStore:
    client = QdrantClient(path=str(workdir / "qdrant"))
    vectors = models.VectorParams(size=embeddings.dim, distance=models.Distance.COSINE)
    client.create_collection(COLLECTION, vectors_config=vectors)
    return QdrantVectorStore(client, COLLECTION, embeddings)


qdrant = LangChainStore(
    name="langchain-qdrant",
    build=local_store,
    ids=IdMapping.UUID,
    count=lambda store: store.client.count(COLLECTION, exact=True).count,
    close=lambda store: store.client.close(),
    store_keys=("_id", "_collection_name"),
    filter_argument=filter_of,
    filter_support=QDRANT_FILTER,
    packages=("langchain-core", "langchain-qdrant", "qdrant-client"),
)
