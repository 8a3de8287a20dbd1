"""The machine's rules for the filter capability (docs/filters.md): tagged stores and batches,
metadata-only upserts, ``get_metadata``, filtered searches and ``delete_where``.

They are added only to the machine of a backend that declares filters (``add_rules``), so the
cases drawn for every other backend stay what they were.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from umi_dst.campaign.coverage import Coverage
from umi_dst.checking.faults import INJECTED_FAULTS
from umi_dst.checking.harness import Harness
from umi_dst.filter_ops import (
    DeleteWhere,
    FilteredSearch,
    GetMetadata,
    StoreBatchTagged,
    StoreTagged,
    as_text,
    from_text,
)
from umi_dst.filter_support import WHOLE_DIALECT, FilterSupport
from umi_dst.filters import operator_names, parse_filter
from umi_dst.generation import filter_strategies, filter_subsets, strategies
from umi_dst.generation.strategies import IdChoice, Pick, concrete_id, resolve
from umi_dst.operations import Step
from umi_dst.recipes import Scaled


def cover(coverage: Coverage, op: object, harness: Harness) -> None:
    """Count a filter operation's operators and, for a search, the share of the store it selected."""
    if isinstance(op, (FilteredSearch, DeleteWhere)):
        operators = operator_names(parse_filter(from_text(op.filter)))
        matching = harness.matching if isinstance(op, FilteredSearch) else None
        coverage.filtered(operators, matching, harness.oracle.count())


def add_rules(machine: type, recipe_dim: int, support: FilterSupport = WHOLE_DIALECT) -> None:
    """Give ``machine`` (a ``contract_machine`` class) the filter rules, drawing filters ``support`` allows."""
    for name, method in _rules(recipe_dim, support).items():
        method.__name__ = method.__qualname__ = name
        setattr(machine, name, method)


def _rules(recipe_dim: int, support: FilterSupport) -> dict[str, Callable]:
    ids_or_picks = strategies.existing_or_any_ids

    @precondition(lambda self: self.filters)
    @rule(id=ids_or_picks, recipe=strategies.recipes(recipe_dim), metadata=filter_strategies.metadata)
    def store_tagged(self, id: IdChoice, recipe, metadata: dict) -> None:
        stored = self.harness.oracle.ids()
        self.run(Step(StoreTagged(concrete_id(id, stored), resolve(recipe, stored), as_text(metadata))))

    @precondition(lambda self: self.filters and self.harness.oracle.count() > 0)
    @rule(id=strategies.picks, metadata=filter_strategies.metadata)
    def retag(self, id: Pick, metadata: dict) -> None:
        """A metadata-only upsert: the same vector, new metadata (the old must be gone)."""
        target = concrete_id(id, self.harness.oracle.ids())
        self.run(Step(StoreTagged(target, Scaled(target, 0), as_text(metadata))))

    @precondition(lambda self: self.filters)
    @rule(
        items=st.lists(st.tuples(ids_or_picks, strategies.recipes(recipe_dim), filter_strategies.metadata), max_size=6)
    )
    def store_batch_tagged(self, items: list) -> None:
        stored = self.harness.oracle.ids()
        resolved = tuple((concrete_id(id, stored), resolve(r, stored), as_text(m)) for id, r, m in items)
        self.run(Step(StoreBatchTagged(resolved)))

    @precondition(lambda self: self.filters)
    @rule(id=ids_or_picks)
    def get_metadata(self, id: IdChoice) -> None:
        self.run(Step(GetMetadata(concrete_id(id, self.harness.oracle.ids()))))

    @precondition(lambda self: self.filters)
    @rule(op=filter_subsets.filtered_searches(recipe_dim, support))
    def filtered_search(self, op: FilteredSearch) -> None:
        self.run(Step(FilteredSearch(resolve(op.query, self.harness.oracle.ids()), op.limit, op.filter)))

    @precondition(lambda self: self.filters)
    @rule(filter=filter_subsets.filters_within(support), fault=st.integers(0, 7))
    def delete_where(self, filter: dict, fault: int) -> None:
        """Under no fault, an injected one or one of the factory's nemeses (not a crash point)."""
        faults = (None, *INJECTED_FAULTS, *sorted(self.factory.nemeses))
        self.run(Step(DeleteWhere(as_text(filter)), faults[fault % len(faults)]))

    return {
        "store_tagged": store_tagged,
        "retag": retag,
        "store_batch_tagged": store_batch_tagged,
        "get_metadata": get_metadata,
        "filtered_search": filtered_search,
        "delete_where": delete_where,
    }
