"""FAISS through ``langchain-community``: an exact ``IndexFlatL2`` over unit vectors.

The usual cosine set-up for FAISS (``normalize_L2=True``), so its score is the squared
Euclidean distance of unit vectors. ``add_texts`` refuses an id it already holds, so an
upsert deletes the record first (docs/adapters.md, findings). Its ``filter`` (a callable over
a record's metadata) applies to the ``fetch_k`` nearest records only, 20 unless given, so a
filtered search returns too few once more than 20 records outrank the ones it selects: every
search is given ``fetch_k`` of the contract's largest limit.
"""

from __future__ import annotations

from pathlib import Path

import faiss
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS

from umi_dst.adapters.langchain import ExactEmbeddings, LangChainStore, metadata_predicate
from umi_dst.adapters.scores import ScoreConvention
from umi_dst.contract import MAX_LIMIT


def flat_store(workdir: Path, embeddings: ExactEmbeddings) -> FAISS:
    return FAISS(embeddings, faiss.IndexFlatL2(embeddings.dim), InMemoryDocstore(), {}, normalize_L2=True)


flat = LangChainStore(
    name="langchain-faiss",
    build=flat_store,
    score=ScoreConvention.L2_SQUARED_UNIT,
    replaces_on_add=False,
    count=lambda store: store.index.ntotal,
    filter_argument=metadata_predicate,
    search_kwargs={"fetch_k": MAX_LIMIT},
    packages=("langchain-core", "langchain-community", "faiss-cpu"),
)
