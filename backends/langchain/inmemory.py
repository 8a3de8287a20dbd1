"""langchain-core's ``InMemoryVectorStore``: cosine similarity over a dict of records.

Its ``filter`` is a callable over a ``Document``, applied to every record before the top k
are taken, so the contract's whole filter dialect maps to it (``document_predicate``).
"""

from __future__ import annotations

from langchain_core.vectorstores import InMemoryVectorStore

from umi_dst.adapters.langchain import LangChainStore, document_predicate

inmemory = LangChainStore(
    name="langchain-inmemory",
    build=lambda workdir, embeddings: InMemoryVectorStore(embeddings),
    count=lambda store: len(store.store),
    filter_argument=document_predicate,
)
