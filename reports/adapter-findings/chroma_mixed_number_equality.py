"""Chroma compares an int with a float after converting one to the other's type.

Found by umi-dst (mem0-chroma adapter with filters, a filtered search); needs only chromadb:
python chroma_mixed_number_equality.py
Expected: numbers compare by value, as chromadb's docs and its handling of ``1`` and ``1.0``
suggest: ``{"n": {"$eq": 0.5}}`` selects no record whose n is an int, and
``{"n": {"$eq": 2**53 + 1}}`` no record whose n is the float 2**53. Got: a float operand is
truncated against int metadata (``$eq 0.5`` selects ``n = 0``, ``$eq 1.5`` selects ``n = 1``,
``$ne 0.5`` leaves ``n = 0`` out), and an int operand is rounded against float metadata
(``$eq 2**53 + 1`` selects ``n = 2.0**53``).
Versions seen failing: chromadb 1.5.9 (PersistentClient), through mem0ai 2.2.1 and langchain-chroma 1.1.0.
"""

import sys
import tempfile

import chromadb
from chromadb.config import Settings

client = chromadb.PersistentClient(path=tempfile.mkdtemp(), settings=Settings(anonymized_telemetry=False))
collection = client.create_collection("numbers")
records = {"int 0": 0, "int 1": 1, "float 1.0": 1.0, "float 2**53": float(2**53), "int 2**53+1": 2**53 + 1}
collection.add(
    ids=list(records), embeddings=[[1.0, 0.0]] * len(records), metadatas=[{"n": n} for n in records.values()]
)
wrong = []
for op, operand in (("$eq", 0.5), ("$eq", 1.5), ("$ne", 0.5), ("$eq", 2**53 + 1), ("$eq", 1)):
    expected = sorted(id for id, n in records.items() if (n == operand) == (op == "$eq"))
    got = sorted(collection.get(where={"n": {op: operand}})["ids"])
    if got != expected:
        wrong.append(f"{{'n': {{{op!r}: {operand!r}}}}} selected {got}, expected {expected}")
if wrong:
    sys.exit("FAIL: numbers of different types compared inexactly:\n  " + "\n  ".join(wrong))
print("PASS: ints and floats compared by exact value")
