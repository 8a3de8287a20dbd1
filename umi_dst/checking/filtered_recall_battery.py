"""How filtered recall is judged: the recall battery again, through filters of chosen selectivity.

An approximate index loses most recall when a filter is selective: the records near the query
are excluded, and a graph or a partition list walked as if unfiltered finds few of the matching
ones. So at the end of every test case of an approximate backend that declares filters, after
the unfiltered battery (``recall_battery``), the harness runs ``QUERIES`` typical queries per
selectivity class of ``SHARES`` (the coverage's ``selectivity_class``: up to 1%, up to 10%, up
to 50% of the store, all of it). Their filters are aimed filters (``filter_aims``) resolved
against the final state's metadata, tried in a fixed order; the first ``FILTERS`` distinct ones
that land in the class serve it (a class no filter lands in is not judged in that case: the
store's metadata cannot express it).

Each answer is checked like a filtered search (CONTRACT §8: every result matches, ordered,
``min(limit, matching)`` of them, so an under-return is a violation, not a recall loss), and
each class's mean recall must meet the declared ``recall_floor``: the same floor as unfiltered
queries, since a user's promise does not weaken with their filter. The limit is ``LIMIT``, or
half the matches when fewer than twice ``LIMIT`` match, so that some matching records are left
out and recall can fall. The battery depends only on the oracle's state: a replay runs it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.campaign.coverage import selectivity_class
from umi_dst.checking import checks
from umi_dst.checking.filter_checks import filtered_search
from umi_dst.checking.recall_battery import LIMIT, SEED, near_query
from umi_dst.contract import VectorBackend
from umi_dst.filter_ops import as_text
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import matches, parse_filter
from umi_dst.generation.filter_aims import SHAPES, FilterAim, concrete_filter

SHARES = ("1%", "10%", "50%", "all")
"""The selectivity classes judged (``umi_dst.campaign.coverage.SELECTIVITY_CLASSES``)."""
QUERIES = 3
"""Typical queries per class, shared round-robin among its filters."""
FILTERS = 2
"""Distinct filters per class at most."""
AIM_INDEXES = 4
"""Aims tried per shape: ``FilterAim.index`` 0 to 3 (even and odd pick each range direction)."""


@dataclass(frozen=True)
class ShareBattery:
    """The filters of one selectivity class and the records each selects."""

    share: str
    filters: list[dict]
    matching: list[int]


@dataclass(frozen=True)
class FilteredRecallReport:
    """Recall of every filtered query, per selectivity class (only the classes some filter reached)."""

    by_share: dict[str, list[float]]
    count: int
    """Records in the store."""

    def summary(self) -> str:
        parts = [f"{share} {_mean(recalls):.3f} ({len(recalls)} queries)" for share, recalls in self.by_share.items()]
        return f"filtered mean recall by share of the store selected: {', '.join(parts) or 'no class reached'}"

    def judge(self, floor: float | None) -> None:
        for share, recalls in self.by_share.items():
            if floor is not None and recalls:
                checks.recall_floor(f"filtered queries whose filter selects {_described(share)}", recalls, floor)


def filters_by_share(oracle: SimVectorBackend, support: FilterSupport) -> list[ShareBattery]:
    """For each class of ``SHARES``, the first ``FILTERS`` distinct aimed filters that land in it."""
    ids = oracle.ids()
    metadatas = [oracle.get_metadata(id) or {} for id in ids]
    distinct = _distinct(metadatas)
    batteries = []
    for share in SHARES:
        filters: list[dict] = []
        matching: list[int] = []
        seen: set[str] = set()
        for aim in (FilterAim(share, shape, index) for index in range(AIM_INDEXES) for shape in SHAPES):
            filter = concrete_filter(aim, metadatas)
            text = as_text(filter)
            node = parse_filter(filter)
            if text in seen or not support.allows(node):
                continue
            seen.add(text)
            selected = sum(times for metadata, times in distinct if matches(node, metadata))
            if selectivity_class(selected, len(ids)) == share:
                filters.append(filter)
                matching.append(selected)
                if len(filters) == FILTERS:
                    break
        if filters:
            batteries.append(ShareBattery(share, filters, matching))
    return batteries


def limit_for(matching: int) -> int:
    """``LIMIT``, or half the matches (at least one) when fewer than twice ``LIMIT`` match."""
    return min(LIMIT, max(1, matching // 2))


def run(backend: VectorBackend, oracle: SimVectorBackend, atol: float, support: FilterSupport) -> FilteredRecallReport:
    """Run the filtered battery on ``backend``; every answer is checked, recall is collected per class."""
    ids = oracle.ids()
    by_share: dict[str, list[float]] = {}
    if len(ids) <= LIMIT:
        return FilteredRecallReport(by_share, len(ids))  # as the unfiltered battery: nothing to lose
    for battery in filters_by_share(oracle, support):
        rng = np.random.default_rng([SEED, SHARES.index(battery.share)])
        recalls = by_share.setdefault(battery.share, [])
        for query_number in range(QUERIES):
            slot = query_number % len(battery.filters)
            filter, limit = battery.filters[slot], limit_for(battery.matching[slot])
            query = near_query(oracle, ids, rng)
            try:
                results = backend.search(query, limit, filter=filter)
            except Exception as exc:
                raise checks.ContractViolation(
                    f"filtered search of a recall-battery query raised {type(exc).__name__}: {exc}"
                ) from exc
            recall, _ = filtered_search(results, oracle, query, filter, limit, atol, exact=False)
            recalls.append(recall)
    return FilteredRecallReport(by_share, len(ids))


def _distinct(metadatas: list[dict]) -> list[tuple[dict, int]]:
    """Each distinct metadata with how many records carry it, in first-seen order (most records
    carry none, so a filter is evaluated on a few dicts, not on every record)."""
    counted: dict[str, tuple[dict, int]] = {}
    for metadata in metadatas:
        text = as_text(metadata)
        first, times = counted.get(text, (metadata, 0))
        counted[text] = (first, times + 1)
    return list(counted.values())


def _described(share: str) -> str:
    return "all of the store" if share == "all" else f"up to {share} of the store"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 1.0
