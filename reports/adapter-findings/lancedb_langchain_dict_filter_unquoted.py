"""LanceDB's LangChain store writes a dict filter's values into its SQL unescaped.

Found by umi-dst (reviewing the langchain-lancedb adapter for filters); needs only
langchain-core, langchain-community and lancedb:
python lancedb_langchain_dict_filter_unquoted.py
Expected: ``filter={"metadata.kind": v}`` selects the records whose kind is the string v,
whatever v holds. Got: ``to_lance_filter`` writes ``metadata.kind = 'v'`` with v as is, so the
value ``nothing' OR '1'='1`` selects every record (an injection), ``it's`` raises
``invalid SQL predicate: Unterminated string literal``; and the metadata column is one struct
whose fields the first write fixes: a later record with another key is refused
(``field 'user' does not exist in table schema``), and an int under a string key is stored as
its text.
Versions seen failing: langchain-community 0.4.2, lancedb 0.40.0.
"""

import sys
import tempfile
import warnings

import lancedb
from langchain_community.vectorstores import LanceDB
from langchain_core.embeddings import Embeddings

warnings.filterwarnings("ignore")


class Fixed(Embeddings):
    """Every text the same direction (the filter alone decides what is returned)."""

    def embed_documents(self, texts):
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text):
        return [1.0, 0.0]


store = LanceDB(connection=lancedb.connect(tempfile.mkdtemp()), embedding=Fixed(), table_name="t", mode="append")
store.add_texts(["a", "b"], metadatas=[{"kind": "fact"}, {"kind": "event"}], ids=["a", "b"])
wrong = []
for value, expected in (("fact", ["a"]), ("nothing' OR '1'='1", []), ("it's", [])):
    try:
        found = sorted(
            d.page_content for d in store.similarity_search_by_vector([1.0, 0.0], k=10, filter={"metadata.kind": value})
        )
    except Exception as error:
        found = f"{type(error).__name__}: {str(error)[:80]}"
    if found != expected:
        wrong.append(f"kind = {value!r} selected {found}, expected {expected}")
try:
    store.add_texts(["c"], metadatas=[{"user": "u1"}], ids=["c"])
except Exception as error:
    wrong.append(f"a record with another metadata key was refused: {str(error)[:80]}")
if wrong:
    sys.exit("FAIL: the dict filter's values reach the SQL unescaped:\n  " + "\n  ".join(wrong))
print("PASS: every value selected exactly its records")
