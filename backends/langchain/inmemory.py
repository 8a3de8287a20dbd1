"""langchain-core's ``InMemoryVectorStore``: cosine similarity over a dict of records."""

from __future__ import annotations

from langchain_core.vectorstores import InMemoryVectorStore

from umi_dst.adapters.langchain import LangChainStore

inmemory = LangChainStore(
    name="langchain-inmemory",
    build=lambda workdir, embeddings: InMemoryVectorStore(embeddings),
    count=lambda store: len(store.store),
)
