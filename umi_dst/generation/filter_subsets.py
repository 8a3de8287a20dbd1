"""Filters drawn within what a store declares it takes (``filter_support.FilterSupport``).

For the whole dialect these are ``filter_strategies``' own strategies, unchanged, so every
backend that declares no subset draws what it drew before; for a subset, the same filters with
those outside it left out.
"""

from __future__ import annotations

from hypothesis import strategies as st

from umi_dst.filter_ops import FilteredSearch, as_text
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import parse_filter
from umi_dst.generation import filter_strategies
from umi_dst.generation.strategies import limits, recipes


def filters_within(support: FilterSupport) -> st.SearchStrategy[dict]:
    """Any filter (tenant ones included) the store takes."""
    if support.whole:
        return filter_strategies.tenant_filters | filter_strategies.filters
    return filter_strategies.tenant_filters | filter_strategies.filters.filter(
        lambda raw: support.allows(parse_filter(raw))
    )


def filtered_searches(dim: int, support: FilterSupport) -> st.SearchStrategy[FilteredSearch]:
    """``filter_strategies.filtered_searches``, with filters the store takes."""
    if support.whole:
        return filter_strategies.filtered_searches(dim)
    return st.builds(FilteredSearch, recipes(dim), limits(), filters_within(support).map(as_text)) | st.builds(
        FilteredSearch, recipes(dim), st.integers(1, 5), filter_strategies.tenant_filters.map(as_text)
    )
