"""Chroma reads float metadata back one ulp off, and -0.0 as 0.0.

Found by umi-dst (langchain-chroma adapter with filters, ``get_metadata``); needs only
chromadb: python chroma_float_metadata_read_back_rounded.py
Expected: a record's float metadata comes back with the bits it was written with. Got: about
one float in ten whose shortest decimal form needs 17 significant digits comes back one ulp
off (-1.9013172509917133 as -1.9013172509917131), and -0.0 comes back 0.0.
Versions seen failing: chromadb 1.5.9 (PersistentClient), through langchain-chroma 1.1.0.
"""

import struct
import sys
import tempfile

import chromadb
from chromadb.config import Settings

VALUES = [-1.9013172509917133, 0.09373711634780513, -0.0, 0.1, 1.5]

client = chromadb.PersistentClient(path=tempfile.mkdtemp(), settings=Settings(anonymized_telemetry=False))
collection = client.create_collection("floats")
ids = [str(i) for i in range(len(VALUES))]
collection.add(ids=ids, embeddings=[[1.0, 0.0]] * len(VALUES), metadatas=[{"x": v} for v in VALUES])
got = collection.get(ids=ids)
back = {id: metadata["x"] for id, metadata in zip(got["ids"], got["metadatas"])}
changed = [(v, back[id]) for id, v in zip(ids, VALUES) if struct.pack("<d", v) != struct.pack("<d", back[id])]
if changed:
    sys.exit(f"FAIL: {len(changed)} of {len(VALUES)} floats read back changed (written, read): {changed}")
print("PASS: every float read back bit-exact")
