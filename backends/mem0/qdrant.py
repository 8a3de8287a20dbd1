"""mem0's ``Qdrant`` vector store on Qdrant's local mode (files, no server)."""

from __future__ import annotations

from pathlib import Path

from mem0.vector_stores.qdrant import Qdrant

from umi_dst.adapters.mem0 import Mem0Store

COLLECTION = "umi"


def local_store(workdir: Path, dim: int) -> Qdrant:
    return Qdrant(collection_name=COLLECTION, embedding_model_dims=dim, path=str(workdir / "qdrant"), on_disk=True)


qdrant = Mem0Store(
    name="mem0-qdrant",
    build=local_store,
    close=lambda store: store.client.close(),
    packages=("mem0ai", "qdrant-client"),
)
