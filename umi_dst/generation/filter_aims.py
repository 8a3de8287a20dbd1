"""Aimed filters: filters built from the metadata the store holds, so they select a chosen share.

A filter drawn blind over the shared vocabulary mostly selects nothing (most records carry no
metadata, or other values). A ``FilterAim`` is resolved when its step runs, from the records
stored then (``concrete_filter``): an equality on a stored value (a tenant's records), an
``$in`` of stored values, a range cut at a stored value, the complement of an ``$in``, a
tenant ``AND`` a range, or ``$exists``, each sized to select none, one record, about 1%, 10%,
50% or all of the store. Its values are the stored ones, so the hostile strings records carry
(quotes, backslashes, ``%``, ``_``) reach the engine's filter path; for none, a stored string
with a quote appended, a range past the largest stored number, or ``$in []``.

The step records the concrete filter, so seed files keep their format and replay the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from umi_dst.filters import MAX_IN_VALUES, kind
from umi_dst.metadata import Metadata, Scalar

SHARES = ("none", "one", "1%", "10%", "50%", "all")
"""How much of the store an aimed filter is sized to select."""
SHAPES = ("eq", "in", "range", "not_in", "tenant_and_range", "exists")
SEVERAL = ("10%", "50%", "all")
"""Shares that select several records when the store holds a few tagged ones (``delete_where``
under a fault: a half-applied delete shows only then)."""
TENANT_KEY = "user"


@dataclass(frozen=True, slots=True)
class FilterAim:
    """A filter chosen when the step runs (``concrete_filter``)."""

    share: str
    shape: str
    index: int = 0
    """Which key, value or tenant among the qualifying ones, modulo their number."""


def target_count(share: str, count: int) -> int:
    """The number of records ``share`` stands for in a store of ``count``."""
    fractions = {"1%": 0.01, "10%": 0.1, "50%": 0.5}
    if share == "none" or count == 0:
        return 0
    if share == "one":
        return 1
    if share == "all":
        return count
    return max(1, round(count * fractions[share]))


def concrete_filter(aim: FilterAim, metadatas: list[Metadata]) -> dict:
    """The filter ``aim`` stands for, over the metadata of every stored record (sorted by id)."""
    tagged = [m for m in metadatas if m]
    if not tagged:  # nothing to aim at: a tenant's records, which are none
        return {TENANT_KEY: "u1"}
    keys = sorted({key for m in tagged for key in m})
    key = keys[aim.index % len(keys)]
    values = [m[key] for m in metadatas if key in m]
    target = target_count(aim.share, len(metadatas))
    if aim.share == "all":
        return {} if aim.index % 2 else {"$or": [{key: {"$exists": True}}, {key: {"$exists": False}}]}
    if aim.share == "none":
        return _selecting_none(key, values, aim.index)
    return _SHAPED[aim.shape](key, values, target, aim.index, metadatas)


def _selecting_none(key: str, values: list[Scalar], index: int) -> dict:
    """A stored string with a quote appended (a value careless quoting breaks on), else a range
    past the largest stored number, else ``$in []``."""
    strings = sorted(v for v in values if kind(v) == "str")
    if strings and index % 2 == 0:
        return {key: strings[index // 2 % len(strings)] + "'"}
    numbers = [v for v in values if kind(v) == "number"]
    if numbers:
        return {key: {"$gt": max(numbers)}}
    return {key: {"$in": []}}


def _by_frequency(values: list[Scalar]) -> list[Scalar]:
    """Distinct values, most frequent first."""
    counts = Counter((kind(v), v) for v in values)
    distinct = sorted(counts, key=lambda kv: (-counts[kv], kv[0], repr(kv[1])))
    return [v for _, v in distinct]


def _equal(key: str, values: list[Scalar], target: int, index: int, metadatas: list[Metadata]) -> dict:
    """The stored value whose records number closest to ``target`` (a tenant's, for ``user``)."""
    counts = Counter((kind(v), v) for v in values)
    ranked = sorted(counts, key=lambda kv: (abs(counts[kv] - target), kv[0], repr(kv[1])))
    closest = [kv for kv in ranked if abs(counts[kv] - target) == abs(counts[ranked[0]] - target)]
    return {key: closest[index % len(closest)][1]}


def _members(values: list[Scalar], target: int, index: int) -> list[Scalar]:
    """Stored values whose records add up to at least ``target``, starting at ``index``."""
    distinct = _by_frequency(values)
    start = index % len(distinct)
    chosen, selected = [], 0
    for value in distinct[start:] + distinct[:start]:
        if selected >= target or len(chosen) == MAX_IN_VALUES:
            break
        chosen.append(value)
        selected += sum(1 for v in values if kind(v) == kind(value) and v == value)
    return chosen


def _member_of(key: str, values: list[Scalar], target: int, index: int, metadatas: list[Metadata]) -> dict:
    return {key: {"$in": _members(values, target, index)}}


def _not_member_of(key: str, values: list[Scalar], target: int, index: int, metadatas: list[Metadata]) -> dict:
    """The complement of an ``$in``: every record but about ``len(store) - target`` (those
    without the key included, as the contract's ``$not`` decides)."""
    left_out = max(0, len(metadatas) - target)
    excluded = _members(values, left_out, index) if left_out else []
    return {"$not": {key: {"$in": excluded}}}


def _range(key: str, values: list[Scalar], target: int, index: int, metadatas: list[Metadata]) -> dict:
    """``$lte`` the target-th smallest stored value of one kind, or ``$gte`` the target-th largest."""
    orderable = [v for v in values if kind(v) != "bool"]
    if not orderable:
        return _equal(key, values, target, index, metadatas)
    of_kind = kind(orderable[index % len(orderable)])
    ordered = sorted(v for v in orderable if kind(v) == of_kind)
    at = min(max(target, 1), len(ordered)) - 1
    if index % 2:
        return {key: {"$gte": ordered[::-1][at]}}
    return {key: {"$lte": ordered[at]}}


def _tenant_and_range(key: str, values: list[Scalar], target: int, index: int, metadatas: list[Metadata]) -> dict:
    """One tenant's records cut by a range on another key (a scalar index, ``AND`` and ``LIMIT``)."""
    tenants = sorted({m[TENANT_KEY] for m in metadatas if TENANT_KEY in m}, key=repr)
    if not tenants:
        return _range(key, values, target, index, metadatas)
    tenant = tenants[index % len(tenants)]
    own = [m for m in metadatas if TENANT_KEY in m and kind(m[TENANT_KEY]) == kind(tenant) and m[TENANT_KEY] == tenant]
    other_keys = sorted({k for m in own for k in m if k != TENANT_KEY})
    if not other_keys:
        return {TENANT_KEY: tenant}
    other = other_keys[index % len(other_keys)]
    cut = _range(other, [m[other] for m in own if other in m], target, index, own)
    return {"$and": [{TENANT_KEY: tenant}, cut]}


def _exists(key: str, values: list[Scalar], target: int, index: int, metadatas: list[Metadata]) -> dict:
    return {key: {"$exists": index % 2 == 0}}


_SHAPED: dict[str, Callable[..., dict]] = {
    "eq": _equal,
    "in": _member_of,
    "range": _range,
    "not_in": _not_member_of,
    "tenant_and_range": _tenant_and_range,
    "exists": _exists,
}

aims = st.builds(FilterAim, st.sampled_from(SHARES), st.sampled_from(SHAPES), st.integers(0, 15))
several_aims = st.builds(
    FilterAim, st.sampled_from(SEVERAL), st.sampled_from(("eq", "in", "range", "tenant_and_range")), st.integers(0, 15)
)
"""Aims that select several stored records, for writes that must be all-or-nothing."""
