"""langchain-community's LanceDB store: a search before the first add_texts raises.

Found by umi-dst (langchain-lancedb adapter); needs only langchain-community and lancedb.
Expected: an empty list. Got: AttributeError: 'NoneType' object has no attribute 'search'.
Versions seen failing: langchain-community 0.4.2, lancedb 0.40.0, langchain-core 1.8.3.
"""

import sys
import tempfile

import lancedb
from langchain_community.vectorstores import LanceDB
from langchain_core.embeddings import Embeddings


class Fixed(Embeddings):
    def embed_documents(self, texts):
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text):
        return [1.0, 0.0]


store = LanceDB(connection=lancedb.connect(tempfile.mkdtemp()), embedding=Fixed(), mode="append")
try:
    found = store.similarity_search_by_vector([1.0, 0.0], k=1)
except AttributeError as exc:
    sys.exit(f"FAIL: search on an empty store raised AttributeError: {exc}")
print("PASS: search on an empty store returned", found)
