"""mem0's PGVector store reports every negative cosine similarity as 0.

Found by umi-dst (mem0-pgvector adapter); needs only mem0ai, psycopg[pool] and a PostgreSQL
server with pgvector: python mem0_pgvector_negative_scores_clamped.py postgresql://...
Expected: the score of a record opposite the query is -1. Got: 0.0, from
``max(0.0, 1.0 - distance)`` in ``PGVector.search``, so records anywhere in the opposite
half-space all tie at 0 and a caller cannot tell them apart.
Versions seen failing: mem0ai 2.2.1 (PostgreSQL 18, pgvector 0.8).
"""

import sys
import uuid

from mem0.vector_stores.pgvector import PGVector

store = PGVector(
    dbname=None,
    collection_name=f"clamp_{uuid.uuid4().hex[:8]}",
    embedding_model_dims=2,
    user=None,
    password=None,
    host=None,
    port=None,
    diskann=False,
    hnsw=False,
    connection_string=sys.argv[1],
)
try:
    store.insert([[-1.0, 0.0]], payloads=[{"data": "opposite"}], ids=[str(uuid.uuid4())])
    (hit,) = store.search("", [1.0, 0.0], 1)
finally:
    store.delete_col()
if abs(hit.score - (-1.0)) > 1e-4:
    sys.exit(f"FAIL: the cosine similarity is -1, search reported {hit.score}")
print("PASS: search reported", hit.score)
