"""mem0's ``ChromaDB`` vector store on an embedded, persistent Chroma in the working directory.

Built as mem0 builds it: the collection keeps Chroma's default space, squared L2, and ``search``
reports ``1 / (1 + distance)``. Squared L2 ranks as the cosine does only on unit vectors, which
is what mem0's embedders return; the declared convention makes the adapter hand it those.

``filtered`` is the same store declared with metadata and equality filters
(``umi_dst.adapters.mem0_filters``, mem0's ``{"eq": v}``). It is not the registered store:
Chroma reads some floats back one ulp off and ``-0.0`` as ``0.0``, and compares an int with a
float inexactly (``eq 0.5`` selects the int 0; docs/adapters.md, findings). Its ``update``
also keeps the keys a new payload lacks, as Chroma's update merges metadata.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mem0.vector_stores.chroma import ChromaDB

from umi_dst.adapters.mem0 import Mem0Store
from umi_dst.adapters.mem0_filters import MEM0_EQUALITY, equality_filters, operator_equal
from umi_dst.adapters.scores import ScoreConvention

COLLECTION = "umi"


def embedded_store(workdir: Path, dim: int) -> ChromaDB:
    return ChromaDB(collection_name=COLLECTION, path=str(workdir / "chroma"))


chroma = Mem0Store(
    name="mem0-chroma",
    build=embedded_store,
    score=ScoreConvention.INVERSE_L2_SQUARED_UNIT,
    count=lambda store: store.collection.count(),
    close=lambda store: store.client.close(),
    packages=("mem0ai", "chromadb"),
)


filtered = dataclasses.replace(chroma, filter_argument=equality_filters(operator_equal), filter_support=MEM0_EQUALITY)
"""``chroma`` with metadata and equality filters; fails on Chroma's findings (module docstring)."""
