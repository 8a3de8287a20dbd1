"""mem0's PGVector store filters on the payload's text and reads numbers back changed.

Found by umi-dst (mem0-pgvector adapter with metadata and equality filters); needs only mem0ai,
psycopg[pool] and a PostgreSQL server with pgvector:
python mem0_pgvector_filters_compare_text.py postgresql://...
Expected: ``{"n": {"eq": v}}`` selects the records whose n equals v, of its type: ``1`` the
int 1 and the float 1.0, ``True`` the bool, ``"1"`` the string; and a payload reads back as
written. Got: each condition compares ``payload->>'n'`` with ``str(v)``, so ``eq 1`` selects
the string "1" and misses 1.0 (whose text is "1.0"), ``eq True`` selects nothing (its text is
"True", the bool's is "true"), ``eq "true"`` selects the bool; and the jsonb column turns
``-0.0`` into ``0.0`` and the float ``1e300`` into an int.
Versions seen failing: mem0ai 2.2.1 (PostgreSQL 18, pgvector 0.8).
"""

import math
import sys
import uuid

from mem0.vector_stores.pgvector import PGVector

store = PGVector(
    dbname=None,
    collection_name=f"text_{uuid.uuid4().hex[:8]}",
    embedding_model_dims=2,
    user=None,
    password=None,
    host=None,
    port=None,
    diskann=False,
    hnsw=False,
    connection_string=sys.argv[1],
)
payloads = {
    "int 1": 1,
    "float 1.0": 1.0,
    "bool true": True,
    "str 1": "1",
    "str true": "true",
    "-0.0": -0.0,
    "1e300": 1e300,
}
ids = {name: str(uuid.uuid4()) for name in payloads}
names = {id: name for name, id in ids.items()}
wrong = []
try:
    store.insert([[1.0, 0.0]] * len(payloads), payloads=[{"n": n} for n in payloads.values()], ids=list(ids.values()))
    for value, expected in ((1, ["float 1.0", "int 1"]), (True, ["bool true"]), ("true", ["str true"])):
        got = sorted(names[hit.id] for hit in store.search("", [1.0, 0.0], 10, filters={"n": {"eq": value}}))
        if got != expected:
            wrong.append(f"{{'n': {{'eq': {value!r}}}}} selected {got}, expected {expected}")
    for name in ("-0.0", "1e300"):
        back = store.get(ids[name]).payload["n"]
        written = payloads[name]
        if type(back) is not type(written) or math.copysign(1, back) != math.copysign(1, written):
            wrong.append(f"{written!r} read back as {type(back).__name__} {back!r:.20}")
finally:
    store.delete_col()
if wrong:
    sys.exit("FAIL: filters compare text, payloads change:\n  " + "\n  ".join(wrong))
print("PASS: equality by value and type, payloads read back as written")
