"""The contract's equality filters as mem0's ``filters`` dict, one form per mem0 store.

mem0's users filter by ``user_id``, ``agent_id`` and ``run_id`` equality above all, and that
is the part every mem0 store takes alike: a flat dict of keys and values, one condition per key,
all of which hold. ``MEM0_EQUALITY`` declares it (``$eq`` and an ``$and`` of them); each store's
own translation of the rest of mem0's dialect (``ne``, ``in``, ``gt``..., ``$or``, ``$not``)
differs (``mem0/vector_stores/*.py``), and is not taken here.

An ``$and`` that asks one key for two values is resolved before the store sees it: values the
contract deems equal are one condition, others select no record. Each value is written in the
``{"eq": value}`` form, since a bare ``"*"`` is mem0's wildcard (every record), except where a
store compares numbers by type (``qdrant_equal``).
"""

from __future__ import annotations

from collections.abc import Callable

from umi_dst.adapters.records import ID_KEY
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import AllOf, Compare, Filter, kind
from umi_dst.metadata import Scalar

MEM0_EQUALITY = FilterSupport(operators=frozenset({"$eq", "$and"}), nesting=False)
"""Equality on one key, or an ``$and`` of equalities: what every mem0 store's ``filters`` takes."""

NO_RECORD = {ID_KEY: {"eq": ""}}
"""A condition no record meets: every record's id key holds its (non-empty) contract id."""

Equal = Callable[[Scalar], object]
"""A store's form of ``key == value``: what goes under the key in its ``filters`` dict."""


def operator_equal(value: Scalar) -> dict:
    """mem0's documented ``{"eq": value}`` form."""
    return {"eq": value}


def qdrant_equal(value: Scalar) -> dict:
    """mem0's Qdrant: its ``eq`` is a ``MatchValue``, which keeps ints, floats and bools apart and
    takes no float, so a number that a float64 equals is a range from itself to itself (a ``Range``,
    which compares by value)."""
    if kind(value) == "number" and float(value) == value:
        return {"gte": value, "lte": value}
    return {"eq": value}


def equality_filters(equal: Equal) -> Callable[[Filter], dict | None]:
    """A ``filter_argument`` for a mem0 store whose equality is ``equal``."""

    def filters(node: Filter) -> dict | None:
        conditions = _conditions(node)
        if conditions is None:
            return NO_RECORD
        return {key: equal(value) for key, value in conditions.items()} or None

    return filters


def _conditions(node: Filter) -> dict[str, Scalar] | None:
    """The value each key must equal (None: two values for one key, so no record)."""
    parts = node.parts if isinstance(node, AllOf) else (node,)
    wanted: dict[str, Scalar] = {}
    for part in parts:
        if not (isinstance(part, Compare) and part.op == "$eq"):
            raise ValueError(f"mem0's filters take only equalities here, not {part!r}: declare MEM0_EQUALITY")
        if part.key in wanted and not _same(wanted[part.key], part.value):
            return None
        wanted.setdefault(part.key, part.value)
    return wanted


def _same(a: Scalar, b: Scalar) -> bool:
    return kind(a) == kind(b) and a == b
