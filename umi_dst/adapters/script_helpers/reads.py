"""How an exported adapter script reads a record back: from the metadata the store returned
for its id, as the adapter's ``get`` does, failing with the adapter's findings as assertions."""

import numpy as np

from umi_dst.adapters.script_helpers.records import ID_KEY, VECTOR_KEY


def stored_vector(metadata):
    """The float32 vector a record was written with, from the metadata it came back with."""
    return np.frombuffer(bytes.fromhex(metadata[VECTOR_KEY]), dtype=np.float32)


def record_vector(metadatas, id):
    """The vector of the one record the store returned for ``id`` (None: it returned none)."""
    assert len(metadatas) <= 1, f"the store holds {len(metadatas)} records for id {id!r}"
    if not metadatas:
        return None
    assert metadatas[0].get(ID_KEY) == id, f"asked for id {id!r}, the store returned {metadatas[0]!r}"
    return stored_vector(metadatas[0])
