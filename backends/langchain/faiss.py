"""FAISS through ``langchain-community``: an exact ``IndexFlatL2`` over unit vectors.

The usual cosine set-up for FAISS (``normalize_L2=True``), so its score is the squared
Euclidean distance of unit vectors. ``add_texts`` refuses an id it already holds, so an
upsert deletes the record first (docs/adapters.md, findings).
"""

from __future__ import annotations

from pathlib import Path

import faiss
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS

from umi_dst.adapters.langchain import ExactEmbeddings, LangChainStore
from umi_dst.adapters.scores import ScoreConvention


def flat_store(workdir: Path, embeddings: ExactEmbeddings) -> FAISS:
    return FAISS(embeddings, faiss.IndexFlatL2(embeddings.dim), InMemoryDocstore(), {}, normalize_L2=True)


flat = LangChainStore(
    name="langchain-faiss",
    build=flat_store,
    score=ScoreConvention.L2_SQUARED_UNIT,
    replaces_on_add=False,
    count=lambda store: store.index.ntotal,
    packages=("langchain-core", "langchain-community", "faiss-cpu"),
)
