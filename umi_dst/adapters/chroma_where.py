"""The contract's filters as Chroma's ``where`` dict, and the part of the dialect it takes.

Chroma's grammar (``chromadb.api.types.validate_where``): one key per dict, one operator per
field, ``$and``/``$or`` of at least two parts, ranges on numbers only, ``$in``/``$nin`` of a
non-empty list of one type, no ``$not`` and no ``$exists``. Its meaning matches the contract's
where both take a filter (ints and floats compare by value, bools are not numbers, ``$ne``
and ``$nin`` hold on a missing key), so the translation only reshapes: several conditions
become an ``$and``, a one-part ``$and``/``$or`` its part, an ``$in`` of mixed types an
``$or`` of one ``$in`` per type, and a list or filter with nothing in it a condition on the
adapter's id key that always holds, or never does.
"""

from __future__ import annotations

from umi_dst.adapters.records import ID_KEY
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import AllOf, AnyOf, Compare, Filter, Member

CHROMA_WHERE = FilterSupport(
    operators=frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$and", "$or"}),
    string_ranges=False,
)
"""What ``where_of`` translates: the dialect less ``$not``, ``$exists`` and string ranges."""

EVERY_RECORD = {"$or": [{ID_KEY: {"$eq": ""}}, {ID_KEY: {"$ne": ""}}]}
NO_RECORD = {"$and": [{ID_KEY: {"$eq": ""}}, {ID_KEY: {"$ne": ""}}]}


def where_of(node: Filter) -> dict | None:
    """Chroma's ``where`` for a filter ``CHROMA_WHERE`` allows; None for ``{}`` (no filter)."""
    return None if node == AllOf(()) else _where(node)


def _where(node: Filter) -> dict:
    if isinstance(node, Compare):
        return {node.key: {node.op: node.value}}
    if isinstance(node, Member):
        return _membership(node)
    if isinstance(node, AllOf):
        return _joined("$and", [_where(part) for part in node.parts], EVERY_RECORD)
    if isinstance(node, AnyOf):
        return _joined("$or", [_where(part) for part in node.parts], NO_RECORD)
    raise ValueError(f"Chroma's where has no form for {node!r}: declare CHROMA_WHERE")


def _membership(node: Member) -> dict:
    """One ``$in`` (``$nin``) per value type, since Chroma refuses a list of mixed types."""
    by_type: dict[type, list] = {}
    for value in node.values:
        by_type.setdefault(type(value), []).append(value)
    op, join, empty = ("$nin", "$and", EVERY_RECORD) if node.negate else ("$in", "$or", NO_RECORD)
    return _joined(join, [{node.key: {op: values}} for values in by_type.values()], empty)


def _joined(op: str, parts: list[dict], empty: dict) -> dict:
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else {op: parts}
