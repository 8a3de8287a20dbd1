"""How a contract record travels through an integration layer: its id and its exact vector.

Integration APIs hand back documents or payloads, not vectors, so the record's contract id and
its float32 bytes ride in the metadata; ``get`` reads them back from what the store returned
for the id. Many stores accept only UUIDs (or integers) as ids: ``IdMapping.UUID`` derives one
from the contract id, deterministically, and the metadata keeps the original.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import numpy as np

from umi_dst.adapters.script_helpers.records import (
    ID_KEY,
    VECTOR_KEY,
    cosine,
    metadata,
    ranked_cosines,
    user_metadata,
    uuid_of,
)
from umi_dst.contract import Embedding, InvalidInput

# ``ID_KEY`` and ``VECTOR_KEY`` are the metadata keys the adapters reserve (filters on user
# metadata must leave them alone); they live in ``script_helpers.records``, which scripts embed.
__all__ = ["ID_KEY", "VECTOR_KEY", "cosine", "metadata", "ranked_cosines", "user_metadata"]


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
        return id if self is IdMapping.SAME else uuid_of(id)


def tagged(id: str, vector: Embedding, user: Mapping, store_keys: tuple[str, ...] = ()) -> dict:
    """The metadata written for a record: the adapter's keys, then the user's (refused if they
    take a key of the adapter's or one the store adds, before anything is written)."""
    reserved = sorted({ID_KEY, VECTOR_KEY, *store_keys} & set(user))
    if reserved:
        raise InvalidInput(f"metadata key {reserved[0]!r} is reserved for the adapter's record; use another key")
    return {**metadata(id, vector), **user}


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
