"""Operations of the filter capability (docs/filters.md), plain frozen data like ``umi_dst.operations``.

Metadata and filters are kept as strict JSON text (``umi_dst.strict_json``), so an operation
stays hashable and a seed file holds them exactly: an int stays an int (2**63 - 1 included), a
float a float (``1.0``, ``-0.0``), a bool a bool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from umi_dst import strict_json
from umi_dst.recipes import Recipe


def as_text(value: dict) -> str:
    """The strict JSON text of a metadata dict or a filter, on one line."""
    return strict_json.dumps(value, indent=None)


def from_text(text: str) -> dict:
    return strict_json.loads(text)


@dataclass(frozen=True, slots=True)
class StoreTagged:
    """``store(id, embedding, metadata)``: an upsert that replaces the metadata whole."""

    id: str
    embedding: Recipe
    metadata: str
    kind: ClassVar[str] = "store_tagged"


@dataclass(frozen=True, slots=True)
class StoreBatchTagged:
    """``store_batch`` of ``(id, embedding, metadata)`` items."""

    items: tuple[tuple[str, Recipe, str], ...]
    kind: ClassVar[str] = "store_batch_tagged"


@dataclass(frozen=True, slots=True)
class DeleteWhere:
    filter: str
    kind: ClassVar[str] = "delete_where"


@dataclass(frozen=True, slots=True)
class GetMetadata:
    id: str
    kind: ClassVar[str] = "get_metadata"


@dataclass(frozen=True, slots=True)
class FilteredSearch:
    query: Recipe
    limit: int
    filter: str
    kind: ClassVar[str] = "filtered_search"


FILTER_WRITES = (StoreTagged, StoreBatchTagged, DeleteWhere)
FILTER_OPERATIONS = (*FILTER_WRITES, GetMetadata, FilteredSearch)
