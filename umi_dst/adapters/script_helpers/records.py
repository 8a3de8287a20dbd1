"""A record's id and exact vector in an integration layer's metadata, and scores recomputed
from them: the adapters use these, and an exported script embeds them, so both agree."""

import math
import uuid

import numpy as np

ID_KEY = "umi_id"
VECTOR_KEY = "umi_vector"
NAMESPACE = uuid.UUID("6f0c1d5e-2b7a-5c1e-9a43-0d1f6b2e7c55")
"""The namespace of the UUID 5 a contract id maps to in a store that takes only UUIDs."""


def metadata(id, vector):
    """What the store must keep beside the vector so the record can be read back exactly."""
    return {ID_KEY: id, VECTOR_KEY: np.asarray(vector, dtype=np.float32).tobytes().hex()}


def user_metadata(payload, store_keys=()):
    """The record's own metadata: what the store returned, without the adapter's keys and the
    ones the store adds to what it returns (``store_keys``)."""
    hidden = {ID_KEY, VECTOR_KEY, *store_keys}
    return {key: value for key, value in (payload or {}).items() if key not in hidden}


def uuid_of(id):
    return str(uuid.uuid5(NAMESPACE, id))


def cosine(query, vector):
    """The float64 cosine of the query and the vector a record came back with."""
    a, b = np.asarray(query, np.float64), np.asarray(vector, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def ranked_cosines(query, vectors):
    """The contract's scores, for a store whose own are missing or lossy, of the records it
    ranked in this order: each the float64 cosine, lowered to the one ranked above it.

    The store ranks by its own float32 arithmetic, so records within its rounding of a tie may
    come in either order; a plain float64 cosine would then read as a ranking mistake. The
    running minimum keeps them in order and moves no score by more than the store misranked
    it: a record ranked above one it does not beat by the tolerance still fails the score check.
    """
    scores, lowest = [], math.inf
    for vector in vectors:
        lowest = min(lowest, cosine(query, vector))
        scores.append(lowest)
    return scores
