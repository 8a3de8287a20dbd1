"""langchain-community's LanceDB store: distance="cosine" does not reach the search.

Found by umi-dst (langchain-lancedb adapter); needs only langchain-community and lancedb.
``LanceDB(distance="cosine")`` uses the distance only to pick the relevance-score function;
its search never passes it to LanceDB (``_query`` calls ``.metric`` only for a ``metrics``
keyword), so results are ranked by LanceDB's default, L2, and scored as if they were cosine.
Expected: "near" (cosine 1.0) first. Got: "short" (cosine 0.6, closer in L2) first.
Versions seen failing: langchain-community 0.4.2, lancedb 0.40.0, langchain-core 1.8.3.
"""

import sys
import tempfile

import lancedb
from langchain_community.vectorstores import LanceDB
from langchain_core.embeddings import Embeddings

VECTORS = {"near": [10.0, 0.0], "short": [0.6, 0.8]}
"""Same direction as the query but far in L2, against a 0.6-cosine vector close in L2."""


class Exact(Embeddings):
    def embed_documents(self, texts):
        return [VECTORS[text] for text in texts]

    def embed_query(self, text):
        return VECTORS[text]


store = LanceDB(connection=lancedb.connect(tempfile.mkdtemp()), embedding=Exact(), distance="cosine", mode="append")
store.add_texts(list(VECTORS), ids=list(VECTORS))
ranked = [doc.page_content for doc in store.similarity_search_by_vector([1.0, 0.0], k=2)]
if ranked != ["near", "short"]:
    sys.exit(f"FAIL: distance='cosine' store ranked {ranked}, by L2 instead of cosine")
print("PASS: ranked by cosine:", ranked)
