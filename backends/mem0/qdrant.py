"""mem0's ``Qdrant`` vector store on Qdrant's local mode (files, no server).

Declared with metadata and equality filters (``umi_dst.adapters.mem0_filters``): its ``eq`` is
Qdrant's ``MatchValue``, which keeps ints and floats apart, so a number's equality is mem0's
range form, ``{"gte": v, "lte": v}``.
"""

from __future__ import annotations

from pathlib import Path

from mem0.vector_stores.qdrant import Qdrant

from umi_dst.adapters.mem0 import Mem0Store
from umi_dst.adapters.mem0_filters import MEM0_EQUALITY, equality_filters, qdrant_equal

COLLECTION = "umi"


def local_store(workdir: Path, dim: int) -> Qdrant:
    return Qdrant(collection_name=COLLECTION, embedding_model_dims=dim, path=str(workdir / "qdrant"), on_disk=True)


qdrant = Mem0Store(
    name="mem0-qdrant",
    build=local_store,
    close=lambda store: store.client.close(),
    filter_argument=equality_filters(qdrant_equal),
    filter_support=MEM0_EQUALITY,
    packages=("mem0ai", "qdrant-client"),
)
