"""The contract's filters as the ``filters`` dict mem0's Qdrant store reads (``Qdrant._create_filter``).

mem0's Qdrant nests ``AND``, ``OR`` and ``NOT`` lists of dicts to any depth, and reads a field's
``{"eq": v}`` as a ``MatchValue``, ``{"gt": v}`` (and the other bounds) as a ``Range``, ``ne`` and
``nin`` as a ``MatchExcept``. Its meaning then differs from the contract's where Qdrant's does
(``umi_dst.adapters.qdrant_filter``), and once more: ``MatchExcept`` fails on a missing key. So,
checked on mem0ai 2.2.1 over qdrant-client 1.20.0 local mode: equality is ``mem0_filters``'
``qdrant_equal`` (a number as a range from itself to itself), ``$ne`` and ``$nin`` are a ``NOT``
of the equality or the membership, a membership an ``OR`` of equalities, and a part that
selects every record (``{}`` inside ``$or``) a ``NOT`` of no record, since mem0 drops an empty
dict from its list. ``MEM0_QDRANT`` declares the rest: no ``$exists`` (mem0's ``"*"`` wildcard
drops the condition), no ranges over strings or ints no float64 equals (Qdrant's ``Range``).
"""

from __future__ import annotations

from umi_dst.adapters.mem0_filters import NO_RECORD, qdrant_equal
from umi_dst.adapters.qdrant_filter import field_name
from umi_dst.filter_support import ALL_OPERATORS, FilterSupport
from umi_dst.filters import AllOf, AnyOf, Compare, Filter, Member, Negation

MEM0_QDRANT = FilterSupport(operators=ALL_OPERATORS - {"$exists"}, string_ranges=False, wide_int_ranges=False)
"""What ``qdrant_filters`` translates: the dialect less ``$exists``, string and wide-int ranges."""

EVERY_RECORD = {"NOT": [NO_RECORD]}
_BOUNDS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def qdrant_filters(node: Filter) -> dict | None:
    """mem0's Qdrant ``filters`` for one ``MEM0_QDRANT`` allows; None for ``{}`` (every record)."""
    return None if node == AllOf(()) else _filters(node)


def _filters(node: Filter) -> dict:
    if isinstance(node, Compare):
        key = field_name(node.key)
        if node.op in _BOUNDS:
            return {key: {_BOUNDS[node.op]: node.value}}
        equal = {key: qdrant_equal(node.value)}
        return {"NOT": [equal]} if node.op == "$ne" else equal
    if isinstance(node, Member):
        key = field_name(node.key)
        member = {"OR": [{key: qdrant_equal(value)} for value in node.values]} if node.values else NO_RECORD
        return {"NOT": [member]} if node.negate else member
    if isinstance(node, AllOf):
        return {"AND": [_filters(part) for part in node.parts]} if node.parts else EVERY_RECORD
    if isinstance(node, AnyOf):
        return {"OR": [_filters(part) for part in node.parts]}
    if isinstance(node, Negation):
        return {"NOT": [_filters(node.part)]}
    raise ValueError(f"mem0's Qdrant filters have no form for {node!r}: declare MEM0_QDRANT")
