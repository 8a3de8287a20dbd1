"""mem0's ``Qdrant`` vector store on Qdrant's local mode (files, no server).

Declared with metadata and filters in the dict its ``_create_filter`` reads
(``umi_dst.adapters.mem0_qdrant_filters``: the dialect less ``$exists`` and ranges over strings
or wide ints). Its ``eq`` is Qdrant's ``MatchValue``, which keeps ints and floats apart, so a
number's equality is mem0's range form, ``{"gte": v, "lte": v}``; its ``ne`` fails on a
missing key, so ``$ne`` is a ``NOT``.
"""

from __future__ import annotations

from pathlib import Path

from mem0.vector_stores.qdrant import Qdrant

from umi_dst.adapters.mem0 import Mem0Store
from umi_dst.adapters.mem0_qdrant_filters import MEM0_QDRANT, qdrant_filters

COLLECTION = "umi"


def local_store(workdir: Path, dim: int) -> Qdrant:
    return Qdrant(collection_name=COLLECTION, embedding_model_dims=dim, path=str(workdir / "qdrant"), on_disk=True)


qdrant = Mem0Store(
    name="mem0-qdrant",
    build=local_store,
    close=lambda store: store.client.close(),
    filter_argument=qdrant_filters,
    filter_support=MEM0_QDRANT,
    packages=("mem0ai", "qdrant-client"),
)
