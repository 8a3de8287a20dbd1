"""The contract's filters as Qdrant's ``models.Filter``, and the part of the dialect it takes.

``langchain-qdrant`` keeps a document's metadata under ``metadata`` in the point's payload, so a
key ``k`` is the path ``metadata.k`` (quoted where it is not a plain name). Qdrant's meaning
differs from the contract's in four places, each met here rather than declared, since Qdrant
can say the contract's meaning in other words (checked on qdrant-client 1.20.0, local mode):

- ``MatchValue`` keeps ints, floats and bools apart (``1`` does not match ``1.0``) and takes no
  float, so a number's equality is a ``Range`` from the value to itself (which never selects a
  bool or a string, and compares an int with a float by exact value), and an int no float64
  equals (past 2**53) is a ``MatchValue``, exact on ints.
- An empty ``should`` matches every point, so ``$in []`` is a condition that never holds.
- ``IsEmpty`` holds on a missing key, so ``$exists`` is its negation.
- ``must_not`` holds where its condition does not, a missing key included, as ``$ne``,
  ``$nin`` and ``$not`` do.

What it cannot say is declared in ``QDRANT_FILTER``: a range over strings (``Range`` takes
numbers only), and a range on an int no float64 equals (``Range`` holds its bounds as floats,
so ``$gt 2**53 + 1`` would be ``> 2**53``).
"""

from __future__ import annotations

import re

from qdrant_client import models

from umi_dst.adapters.records import ID_KEY
from umi_dst.contract import InvalidInput
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import AllOf, AnyOf, Compare, Exists, Filter, Member, Negation
from umi_dst.metadata import Scalar

QDRANT_FILTER = FilterSupport(string_ranges=False, wide_int_ranges=False)
"""What ``filter_of`` translates: the whole dialect less ranges over strings or wide ints."""

METADATA_KEY = "metadata"
"""Where ``QdrantVectorStore`` puts a document's metadata in the payload (its default)."""

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RANGE_FIELDS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def filter_of(node: Filter) -> models.Filter | None:
    """Qdrant's filter for one ``QDRANT_FILTER`` allows; None for ``{}`` (no filter)."""
    return None if node == AllOf(()) else _filter(node)


def _filter(node: Filter) -> models.Filter:
    if isinstance(node, Compare):
        if node.op == "$ne":
            return models.Filter(must_not=[_equal(node.key, node.value)])
        if node.op == "$eq":
            return models.Filter(must=[_equal(node.key, node.value)])
        return models.Filter(must=[_range(node)])
    if isinstance(node, Member):
        member = _member(node.key, node.values)
        return models.Filter(must_not=[member]) if node.negate else member
    if isinstance(node, Exists):
        empty = models.IsEmptyCondition(is_empty=models.PayloadField(key=path(node.key)))
        return models.Filter(must_not=[empty]) if node.present else models.Filter(must=[empty])
    if isinstance(node, AllOf):
        return models.Filter(must=[_filter(part) for part in node.parts])
    if isinstance(node, AnyOf):
        return models.Filter(should=[_filter(part) for part in node.parts])
    if isinstance(node, Negation):
        return models.Filter(must_not=[_filter(node.part)])
    raise ValueError(f"Qdrant's filter has no form for {node!r}")


def _equal(key: str, value: Scalar) -> models.FieldCondition:
    """``key`` equals ``value`` as the contract compares: numbers by value, whatever their type."""
    if isinstance(value, (int, float)) and type(value) is not bool and float(value) == value:
        return models.FieldCondition(key=path(key), range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=path(key), match=models.MatchValue(value=value))


def _member(key: str, values: tuple[Scalar, ...]) -> models.Filter:
    """``key`` among ``values``: one ``MatchAny`` of the strings, one equality per other value."""
    strings = [value for value in values if isinstance(value, str)]
    parts = [_equal(key, value) for value in values if not isinstance(value, str)]
    if strings:
        parts.insert(0, models.FieldCondition(key=path(key), match=models.MatchAny(any=strings)))
    return models.Filter(should=parts) if parts else NO_RECORD


def _range(node: Compare) -> models.FieldCondition:
    if isinstance(node.value, str) or float(node.value) != node.value:
        raise ValueError(f"Qdrant's Range takes no {node.value!r}: declare QDRANT_FILTER")
    return models.FieldCondition(key=path(node.key), range=models.Range(**{_RANGE_FIELDS[node.op]: node.value}))


def path(key: str) -> str:
    """The payload path of a metadata key: ``metadata.k``, or ``metadata."k"`` for any other name."""
    return f"{METADATA_KEY}.{field_name(key)}"


def field_name(key: str) -> str:
    """A payload key as one step of a Qdrant path: as is if plain, else quoted."""
    if _PLAIN_NAME.fullmatch(key):
        return key
    if '"' in key:
        raise InvalidInput(f"Qdrant's payload paths cannot name the key {key!r:.40}: it holds a '\"'")
    return f'"{key}"'


NO_RECORD = models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=path(ID_KEY)))])
"""A filter no record passes: every record carries the adapter's id key."""
