"""How a contract record travels through an integration layer: its id and its exact vector.

Integration APIs hand back documents or payloads, not vectors, so the record's contract id and
its float32 bytes ride in the metadata; ``get`` reads them back from what the store returned
for the id. Many stores accept only UUIDs (or integers) as ids: ``IdMapping.UUID`` derives one
from the contract id, deterministically, and the metadata keeps the original.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Mapping, Sequence

import numpy as np

from umi_dst.contract import Embedding

ID_KEY = "umi_id"
VECTOR_KEY = "umi_vector"
"""Metadata keys the adapters reserve; filters on user metadata (issue 25) must leave them alone."""

_NAMESPACE = uuid.UUID("6f0c1d5e-2b7a-5c1e-9a43-0d1f6b2e7c55")


class StoreAnswerError(RuntimeError):
    """The store answered something no correct store can: a record under another id, a
    payload without the vector it was given, two records for one id. A finding, not an input
    error."""


class IdMapping(enum.Enum):
    SAME = "same"
    """The store keeps any string as its id."""
    UUID = "uuid"
    """The store accepts only UUIDs: each contract id maps to its UUID 5."""

    def store_id(self, id: str) -> str:
        return id if self is IdMapping.SAME else str(uuid.uuid5(_NAMESPACE, id))


def metadata(id: str, vector: Embedding) -> dict[str, str]:
    """What the store must keep beside the vector so the record can be read back exactly."""
    return {ID_KEY: id, VECTOR_KEY: np.asarray(vector, dtype=np.float32).tobytes().hex()}


def contract_id(payload: Mapping | None) -> str:
    if not payload or not isinstance(payload.get(ID_KEY), str):
        raise StoreAnswerError(f"the store returned a record whose metadata lost its {ID_KEY!r}: {payload!r}")
    return payload[ID_KEY]


def vector_of(payload: Mapping | None, id: str, dim: int) -> Embedding:
    """The float32 vector stored for ``id``, checking the payload is the one written for it."""
    found = contract_id(payload)
    if found != id:
        raise StoreAnswerError(f"asked for id {id!r}, the store returned the record of {found!r}")
    raw = payload.get(VECTOR_KEY)
    try:
        vector = np.frombuffer(bytes.fromhex(raw), dtype=np.float32)
    except (TypeError, ValueError):
        raise StoreAnswerError(f"the record of {id!r} came back without the vector it was written with") from None
    if vector.shape != (dim,):
        raise StoreAnswerError(f"the record of {id!r} came back with {vector.size} values, not {dim}")
    return vector.copy()


def as_stored(vector: Embedding, unit: bool) -> list[float]:
    """The values handed to the store: the exact float32 ones, or their unit vector for a store
    whose Euclidean score only means a cosine on unit vectors."""
    values = np.asarray(vector, dtype=np.float32)
    if unit:
        wide = values.astype(np.float64)
        values = (wide / np.linalg.norm(wide)).astype(np.float32)
    return [float(x) for x in values]


def cosine(query: Embedding, vector: Embedding) -> float:
    """The float64 cosine of the query and the vector a record came back with."""
    a, b = query.astype(np.float64), vector.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def ranked_cosines(query: Embedding, vectors: Sequence[Embedding]) -> list[float]:
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
