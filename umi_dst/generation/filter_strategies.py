"""Hypothesis strategies for metadata and filters (docs/filters.md).

Records share a small vocabulary of keys, so a filter selects some of them (from none to all);
values test the contract's decisions: type confusion (``1``, ``1.0``, ``True``, ``"1"``), ints
beyond 2**53, ``-0.0``, strings that break careless SQL, JSON or LIKE escaping, and unicode
whose code-point order differs from a locale's.
"""

from __future__ import annotations

from hypothesis import strategies as st

from umi_dst.filter_ops import FilteredSearch, as_text
from umi_dst.filters import RANGES
from umi_dst.generation.strategies import limits, recipes
from umi_dst.metadata import MAX_INT, MIN_INT

TENANTS = ("u1", "u2", "u3")
HOSTILE_STRINGS = (
    "",
    "'",
    "u1'--",
    '"',
    "\\",
    "a\\'b",
    "%",
    "_",
    "u%",
    "u_",
    "'; DROP TABLE records; --",
    "') OR ('1'='1",
    '{"$eq": 1}',
    "$eq",
    "a\nb",
    "Z",
    "a",
    "é",
    "e\u0301",
    "\U0001f600",
    "ǅ",
)
CONFUSED_VALUES = (
    1,
    1.0,
    True,
    "1",
    0,
    0.0,
    -0.0,
    False,
    "0",
    "true",
    2**53,
    2**53 + 1,
    float(2**53),
    MAX_INT,
    MIN_INT,
)

VALUES = {
    "user": st.sampled_from(TENANTS),
    "kind": st.sampled_from(HOSTILE_STRINGS),
    "turn": st.integers(-3, 12) | st.sampled_from((2**53 + 1, MAX_INT, MIN_INT)),
    "score": st.sampled_from((0.5, -0.0, 0.25, 1.0, -1.5, 1e300)) | st.floats(-10, 10, allow_nan=False),
    "n": st.sampled_from(CONFUSED_VALUES),
    "flag": st.booleans(),
}
"""The shared keys and the values each one takes."""
KEYS = tuple(VALUES)

any_value = st.one_of(*VALUES.values())
metadata = st.fixed_dictionaries(
    {"user": VALUES["user"]}, optional={k: v for k, v in VALUES.items() if k != "user"}
) | (st.fixed_dictionaries({}, optional=VALUES))
"""Half the records belong to a tenant (as in a memory layer), half carry any keys, or none."""


def _value_for(key: str) -> st.SearchStrategy:
    """Mostly a value the key really takes (so the filter selects), sometimes any (type confusion)."""
    return VALUES[key] | VALUES[key] | any_value


@st.composite
def _condition(draw: st.DrawFn) -> dict:
    key = draw(st.sampled_from(KEYS))
    shape = draw(st.sampled_from(("shorthand", "compare", "in", "nin", "exists")))
    if shape == "shorthand":
        return {key: draw(_value_for(key))}
    if shape == "exists":
        return {key: {"$exists": draw(st.booleans())}}
    if shape in ("in", "nin"):
        return {key: {f"${shape}": draw(st.lists(_value_for(key), max_size=4))}}
    op = draw(st.sampled_from(("$eq", "$ne", *RANGES)))
    value = draw(_value_for(key).filter(lambda v: op not in RANGES or type(v) is not bool))
    return {key: {op: value}}


tenants = st.sampled_from(TENANTS)
tenant_filters = tenants.map(lambda user: {"user": user})
"""The filter every memory layer applies: one user's records, and none of another's."""

filters = st.one_of(
    tenant_filters,
    st.just({}),
    st.recursive(
        _condition(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"$and": parts}),
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"$or": parts}),
            inner.map(lambda part: {"$not": part}),
        ),
        max_leaves=4,
    ),
)


def filtered_searches(dim: int) -> st.SearchStrategy:
    """Half any filter, half a tenant's with a small limit: where a filter after LIMIT under-returns."""
    return st.builds(FilteredSearch, recipes(dim), limits(), filters.map(as_text)) | st.builds(
        FilteredSearch, recipes(dim), st.integers(1, 5), tenant_filters.map(as_text)
    )
