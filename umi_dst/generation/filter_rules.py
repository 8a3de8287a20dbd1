"""The machine's rules for the filter capability (docs/filters.md): tagged stores and batches,
metadata-only upserts, ``get_metadata``, filtered searches and ``delete_where``.

Besides filters drawn blind, the rules aim (``filter_aims``): filters built from the stored
metadata to select a chosen share, each searched at several limits resolved against the
records it selects (``search_mix.searches``), so ``matching < limit`` and ``matching >
limit`` both happen; a record searched right after it is tagged; a ``delete_where`` of several
records under a fault, where a half-applied delete shows.

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
from umi_dst.generation import filter_strategies, filter_subsets, search_mix, strategies
from umi_dst.generation.filter_aims import FilterAim, aims, concrete_filter, several_aims
from umi_dst.generation.search_mix import LimitChoice, aimed_queries, limit_lists
from umi_dst.generation.strategies import IdChoice, Pick, concrete_id, resolve
from umi_dst.metadata import Metadata
from umi_dst.operations import Step
from umi_dst.recipes import Recipe, Scaled


def cover(coverage: Coverage, op: object, harness: Harness) -> None:
    """Count a filter operation's operators and, for a search, the share of the store it selected."""
    if isinstance(op, (FilteredSearch, DeleteWhere)):
        operators = operator_names(parse_filter(from_text(op.filter)))
        searched = isinstance(op, FilteredSearch)
        matching, limit = (harness.matching, op.limit) if searched else (None, None)
        coverage.filtered(operators, matching, harness.oracle.count(), limit)


def add_rules(machine: type, recipe_dim: int, support: FilterSupport = WHOLE_DIALECT) -> None:
    """Give ``machine`` (a ``contract_machine`` class) the filter rules, drawing filters ``support`` allows."""
    for name, method in _rules(recipe_dim, support).items():
        method.__name__ = method.__qualname__ = name
        setattr(machine, name, method)


def stored_metadata(harness: Harness) -> list[Metadata]:
    """The oracle's metadata of every stored record, in id order."""
    oracle = harness.oracle
    return [oracle.get_metadata(id) for id in oracle.ids()]


def _fault(machine, choice: int) -> str:
    """An injected fault or one of the factory's nemeses (not a crash point), by ``choice``."""
    faults = (*INJECTED_FAULTS, *sorted(machine.factory.nemeses))
    return faults[choice % len(faults)]


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

    @precondition(lambda self: self.filters)
    @rule(query=aimed_queries(), aim=aims, limits=limit_lists)
    def filtered_search_aimed(self, query: Recipe, aim: FilterAim, limits: list[LimitChoice]) -> None:
        """An aimed filter outside what the store declares it takes is not run (``filter_support``)."""
        filter = concrete_filter(aim, stored_metadata(self.harness))
        if support.allows(parse_filter(filter)):
            search_mix.searches(self, query, limits, filter)

    @precondition(lambda self: self.filters)
    @rule(id=ids_or_picks, recipe=strategies.recipes(recipe_dim), metadata=filter_strategies.metadata,
          key=st.integers(0, 7), limits=limit_lists)  # fmt: skip
    def search_after_tagging(self, id: IdChoice, recipe: Recipe, metadata: dict, key: int, limits: list) -> None:
        """Tag a record, then search by its vector for one of its values: it must be found
        (rows written after an index was built were not prefiltered, lance #1561)."""
        stored = self.harness.oracle.ids()
        target = concrete_id(id, stored)
        self.run(Step(StoreTagged(target, resolve(recipe, stored), as_text(metadata))))
        keys = sorted(metadata)
        filter = {keys[key % len(keys)]: metadata[keys[key % len(keys)]]} if keys else {"user": "u1"}
        search_mix.searches(self, Scaled(target, 0), limits, filter)

    @precondition(lambda self: self.filters and self.harness.oracle.count() > 0)
    @rule(aim=several_aims, fault=st.integers(0, 7))
    def delete_where_aimed(self, aim: FilterAim, fault: int) -> None:
        """A ``delete_where`` of several stored records, always under an injected fault or a
        nemesis: it must delete all of them or none."""
        filter = concrete_filter(aim, stored_metadata(self.harness))
        if support.allows(parse_filter(filter)):
            self.run(Step(DeleteWhere(as_text(filter)), _fault(self, fault)))

    @precondition(lambda self: self.filters)
    @rule(tenant=filter_strategies.tenants, fault=st.integers(0, 7),
          items=st.lists(st.tuples(strategies.ids, strategies.recipes(recipe_dim), filter_strategies.metadata),
                         min_size=2, max_size=4, unique_by=lambda item: item[0]))  # fmt: skip
    def delete_tenant_under_fault(self, tenant: str, items: list, fault: int) -> None:
        """Give a tenant several records, then delete the tenant's records under an injected
        fault or a nemesis: a ``delete_where`` that stops part-way leaves some of them."""
        stored = self.harness.oracle.ids()
        tagged = tuple((id, resolve(r, stored), as_text({**m, "user": tenant})) for id, r, m in items)
        self.run(Step(StoreBatchTagged(tagged)))
        self.run(Step(DeleteWhere(as_text({"user": tenant})), _fault(self, fault)))

    return {
        "store_tagged": store_tagged,
        "retag": retag,
        "store_batch_tagged": store_batch_tagged,
        "get_metadata": get_metadata,
        "filtered_search": filtered_search,
        "delete_where": delete_where,
        "filtered_search_aimed": filtered_search_aimed,
        "search_after_tagging": search_after_tagging,
        "delete_where_aimed": delete_where_aimed,
        "delete_tenant_under_fault": delete_tenant_under_fault,
    }
