"""Coverage: what a campaign exercised on one backend, so a pass can be judged.

Counted over the generated test cases only (never the replays of shrinking): operation kinds,
each fault and nemesis with how its write then ended (``completed`` despite the fault, or
failed and resolved to the ``old`` or the ``new`` state, or ``unchanged``: the write changes
nothing, so the two states are one), the largest store and batch, searches
whose cut-off fell on an exact tie or a near tie, maintenance operations run and cut off by
their fault, searches over rows outside an ANN index, filtered searches by operator, by the
share of the store selected and by the side of the limit their matches fell, the filtered
recall battery's recall per share of the store selected, the dimensions and the longest case.
Coverages add up, so shards, workers and CI jobs merge into one.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from umi_dst.checking import maintenance_steps

FAULT_OUTCOMES = ("completed", "old", "new", "unchanged")
MIN_FIRINGS = 20
"""A declared fault or nemesis fired fewer times than this gets a warning line."""
MIN_SEARCH_SHARE = 0.2
"""Searches, plain and filtered, under this share of the steps get a warning line (a vector store
answers searches; a filtered search is one, checked by the same top-k rule among its matches)."""
MIN_TIE_CUTOFFS = 50
"""Searches cut off at an exact or near tie fewer than this (with any search) get a warning line."""
MIN_FILTERED = 10
"""On a backend that declares filters, a selectivity class or a side of the limit (``FILTER_CUTS``)
with fewer filtered searches than this gets a warning line."""
FILTER_CUTS = ("short", "cut")
"""Filtered searches with fewer matches than the limit (every match is due: where an engine that
filters after its ``LIMIT`` or its candidate list under-returns) and with more (the limit cuts)."""


@dataclass
class FilteredRecall:
    """The filtered recall battery's queries of one selectivity class, over test cases."""

    cases: int = 0
    queries: int = 0
    recall_sum: float = 0.0
    lowest_case_mean: float = 1.0
    """The lowest mean recall of one test case: the floor is judged per case."""

    @classmethod
    def of(cls, recalls: list[float]) -> FilteredRecall:
        return cls(1, len(recalls), sum(recalls), sum(recalls) / len(recalls))

    @property
    def mean(self) -> float:
        return self.recall_sum / self.queries if self.queries else 1.0

    def merge(self, other: FilteredRecall) -> None:
        self.cases += other.cases
        self.queries += other.queries
        self.recall_sum += other.recall_sum
        self.lowest_case_mean = min(self.lowest_case_mean, other.lowest_case_mean)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Coverage:
    cases: int = 0
    steps: int = 0
    longest_case: int = 0
    operations: Counter = field(default_factory=Counter)
    faults: dict[str, Counter] = field(default_factory=dict)
    """Fault or nemesis name -> outcome -> how many writes under it ended so."""
    declared_faults: set[str] = field(default_factory=set)
    largest_store: int = 0
    largest_batch: int = 0
    tie_cutoffs: int = 0
    """Searches with ``limit`` below the count whose last returned and first left-out true scores are equal."""
    near_tie_cutoffs: int = 0
    """... or within the backend's score tolerance, but not equal."""
    dims: Counter = field(default_factory=Counter)
    search_kinds: Counter = field(default_factory=Counter)
    """Query kind (``search_mix.query_kind``) -> searches."""
    search_limits: Counter = field(default_factory=Counter)
    """Limit class (``search_mix.limit_class``) -> searches."""
    filter_operators: Counter = field(default_factory=Counter)
    """Filter operator -> filtered searches and ``delete_where`` calls whose filter uses it."""
    filter_selectivity: Counter = field(default_factory=Counter)
    """Share of the store a filtered search's filter selected (``selectivity_class``) -> searches."""
    filter_cuts: Counter = field(default_factory=Counter)
    """``FILTER_CUTS`` (or ``at``: as many matches as the limit) -> filtered searches."""
    filtered_recall: dict[str, FilteredRecall] = field(default_factory=dict)
    """Selectivity class -> the filtered recall battery's queries in it (``filtered_recall_battery``)."""
    declares_filters: bool = False
    """Whether the backend declares filters: only then are filter warnings due."""
    declared_maintenance: set[str] = field(default_factory=set)
    maintenance: Counter = field(default_factory=Counter)
    """Maintenance operation -> steps that ran it."""
    maintenance_interrupted: Counter = field(default_factory=Counter)
    """Maintenance operation -> steps whose fault really cut it off (``maintenance_steps.CUT_OFF``)."""
    maintenance_completed: Counter = field(default_factory=Counter)
    """... -> steps under a fault that let it complete (``error_after``, a crash after its end)."""
    maintenance_refused: Counter = field(default_factory=Counter)
    """... -> steps under a fault that made it refuse to start (``VACUUM`` in a transaction block)."""
    index_probed_searches: int = 0
    """Searches after which the backend said how many rows its index left out (``unindexed_rows``)."""
    unindexed_searches: int = 0
    """... and of those, the searches over a store with rows outside the index."""

    # -- recording ----------------------------------------------------------------------
    def fault(self, name: str, outcome: str) -> None:
        self.faults.setdefault(name, Counter())[outcome] += 1

    def search(self, kind: str, limit_class: str) -> None:
        self.search_kinds[kind] += 1
        self.search_limits[limit_class] += 1

    def filtered(self, operators: list[str], matching: int | None, count: int, limit: int | None = None) -> None:
        """A filtered search (``matching`` records of ``count`` selected, at ``limit``) or, with
        ``matching`` None, a ``delete_where``."""
        self.filter_operators.update(operators)
        if matching is not None:
            self.filter_selectivity[selectivity_class(matching, count)] += 1
        if matching is not None and limit is not None:
            self.filter_cuts["short" if matching < limit else "cut" if matching > limit else "at"] += 1

    def filtered_battery(self, by_share: dict[str, list[float]]) -> None:
        """One test case's filtered recall battery: its recalls per selectivity class."""
        for share, recalls in by_share.items():
            if recalls:
                self.filtered_recall.setdefault(share, FilteredRecall()).merge(FilteredRecall.of(recalls))

    def maintained(self, operation: str, outcome: str) -> None:
        """A maintenance step, with what its fault did (``maintenance_steps.OUTCOMES``)."""
        self.maintenance[operation] += 1
        self.maintenance_interrupted[operation] += outcome == maintenance_steps.CUT_OFF
        self.maintenance_completed[operation] += outcome == maintenance_steps.COMPLETED
        self.maintenance_refused[operation] += outcome == maintenance_steps.REFUSED

    def fired(self, name: str) -> int:
        return sum(self.faults.get(name, Counter()).values())

    def merge(self, other: Coverage) -> None:
        self.cases += other.cases
        self.steps += other.steps
        self.longest_case = max(self.longest_case, other.longest_case)
        self.operations.update(other.operations)
        for name, outcomes in other.faults.items():
            self.faults.setdefault(name, Counter()).update(outcomes)
        self.declared_faults |= other.declared_faults
        self.largest_store = max(self.largest_store, other.largest_store)
        self.largest_batch = max(self.largest_batch, other.largest_batch)
        self.tie_cutoffs += other.tie_cutoffs
        self.near_tie_cutoffs += other.near_tie_cutoffs
        self.dims.update(other.dims)
        self.search_kinds.update(other.search_kinds)
        self.search_limits.update(other.search_limits)
        self.filter_operators.update(other.filter_operators)
        self.filter_selectivity.update(other.filter_selectivity)
        self.filter_cuts.update(other.filter_cuts)
        for share, recall in other.filtered_recall.items():
            self.filtered_recall.setdefault(share, FilteredRecall()).merge(recall)
        self.declares_filters |= other.declares_filters
        self.declared_maintenance |= other.declared_maintenance
        self.maintenance.update(other.maintenance)
        self.maintenance_interrupted.update(other.maintenance_interrupted)
        self.maintenance_completed.update(other.maintenance_completed)
        self.maintenance_refused.update(other.maintenance_refused)
        self.index_probed_searches += other.index_probed_searches
        self.unindexed_searches += other.unindexed_searches

    # -- reading ------------------------------------------------------------------------
    def warnings(self) -> list[str]:
        """One line per declared fault, nemesis or connection event that fired too rarely."""
        lines = []
        for name in sorted(self.declared_faults):
            fired = self.fired(name) if name in self.faults else self.operations.get(name, 0)
            if fired == 0:
                lines.append(f"{name} never fired")
            elif fired < MIN_FIRINGS:
                lines.append(
                    f"{name} fired only {fired} times (fewer than {MIN_FIRINGS}): swarm testing switches it on "
                    "or off per test case, so few cases can leave it rare; a larger --examples fires it more"
                )
        return lines + self._search_warnings() + self._maintenance_warnings() + self._filter_warnings()

    def _filter_warnings(self) -> list[str]:
        """A selectivity class (but ``most``, which few filters hit) or a side of the limit
        with fewer than ``MIN_FILTERED`` filtered searches."""
        if not self.declares_filters:
            return []
        lines = [
            f"only {self.filter_selectivity[name]} filtered searches selected {name} of the store "
            f"(fewer than {MIN_FILTERED})"
            for name in SELECTIVITY_CLASSES
            if name != "most" and self.filter_selectivity[name] < MIN_FILTERED
        ]
        for name, what in zip(FILTER_CUTS, ("fewer records than the limit", "more records than the limit")):
            if self.filter_cuts[name] < MIN_FILTERED:
                lines.append(
                    f"only {self.filter_cuts[name]} filtered searches matched {what} (fewer than {MIN_FILTERED})"
                )
        return lines

    def _maintenance_warnings(self) -> list[str]:
        """A declared maintenance operation run or cut off fewer than ``MIN_FIRINGS`` times."""
        lines = []
        for name in sorted(self.declared_maintenance):
            ran, cut = self.maintenance.get(name, 0), self.maintenance_interrupted.get(name, 0)
            if ran < MIN_FIRINGS or cut < MIN_FIRINGS:
                lines.append(
                    f"maintenance {name} ran {ran} times and was cut off by a fault {cut} times "
                    f"(fewer than {MIN_FIRINGS})"
                )
        if self.index_probed_searches and self.unindexed_searches < MIN_FIRINGS:
            lines.append(
                f"only {self.unindexed_searches} searches ran with rows outside the index (fewer than {MIN_FIRINGS})"
            )
        return lines

    def _search_warnings(self) -> list[str]:
        searches = self.operations.get("search", 0)
        if not self.steps:
            return []
        lines = []
        every_search = searches + self.operations.get("filtered_search", 0)
        if every_search < MIN_SEARCH_SHARE * self.steps:
            lines.append(
                f"search (plain and filtered) was only {every_search} of {self.steps} steps (under {MIN_SEARCH_SHARE:.0%})"
            )
        ties = self.tie_cutoffs + self.near_tie_cutoffs
        if searches and ties < MIN_TIE_CUTOFFS:
            lines.append(f"only {ties} searches were cut off at an exact or near tie (fewer than {MIN_TIE_CUTOFFS})")
        return lines

    def to_json(self) -> dict:
        return {
            "cases": self.cases,
            "steps": self.steps,
            "longest_case": self.longest_case,
            "operations": dict(sorted(self.operations.items())),
            "faults": {name: {o: self.faults[name].get(o, 0) for o in FAULT_OUTCOMES} for name in sorted(self.faults)},
            "declared_faults": sorted(self.declared_faults),
            "largest_store": self.largest_store,
            "largest_batch": self.largest_batch,
            "tie_cutoffs": self.tie_cutoffs,
            "near_tie_cutoffs": self.near_tie_cutoffs,
            "dims": {str(d): n for d, n in sorted(self.dims.items())},
            "search_kinds": dict(sorted(self.search_kinds.items())),
            "search_limits": dict(sorted(self.search_limits.items())),
            "filter_operators": dict(sorted(self.filter_operators.items())),
            "filter_selectivity": dict(sorted(self.filter_selectivity.items())),
            "filter_cuts": dict(sorted(self.filter_cuts.items())),
            "filtered_recall": {
                share: self.filtered_recall[share].to_json()
                for share in SELECTIVITY_CLASSES
                if share in self.filtered_recall
            },
            "declares_filters": self.declares_filters,
            "declared_maintenance": sorted(self.declared_maintenance),
            "maintenance": dict(sorted(self.maintenance.items())),
            "maintenance_interrupted": dict(sorted(self.maintenance_interrupted.items())),
            "maintenance_completed": dict(sorted(self.maintenance_completed.items())),
            "maintenance_refused": dict(sorted(self.maintenance_refused.items())),
            "index_probed_searches": self.index_probed_searches,
            "unindexed_searches": self.unindexed_searches,
        }

    @classmethod
    def from_json(cls, data: dict) -> Coverage:
        return cls(
            cases=data["cases"],
            steps=data["steps"],
            longest_case=data["longest_case"],
            operations=Counter(data["operations"]),
            faults={name: Counter(outcomes) for name, outcomes in data["faults"].items()},
            declared_faults=set(data["declared_faults"]),
            largest_store=data["largest_store"],
            largest_batch=data["largest_batch"],
            tie_cutoffs=data["tie_cutoffs"],
            near_tie_cutoffs=data["near_tie_cutoffs"],
            dims=Counter({int(d): n for d, n in data["dims"].items()}),
            search_kinds=Counter(data.get("search_kinds", {})),
            search_limits=Counter(data.get("search_limits", {})),
            filter_operators=Counter(data.get("filter_operators", {})),
            filter_selectivity=Counter(data.get("filter_selectivity", {})),
            filter_cuts=Counter(data.get("filter_cuts", {})),
            filtered_recall={share: FilteredRecall(**r) for share, r in data.get("filtered_recall", {}).items()},
            declares_filters=data.get("declares_filters", False),
            declared_maintenance=set(data.get("declared_maintenance", [])),
            maintenance=Counter(data.get("maintenance", {})),
            maintenance_interrupted=Counter(data.get("maintenance_interrupted", {})),
            maintenance_completed=Counter(data.get("maintenance_completed", {})),
            maintenance_refused=Counter(data.get("maintenance_refused", {})),
            index_probed_searches=data.get("index_probed_searches", 0),
            unindexed_searches=data.get("unindexed_searches", 0),
        )


SELECTIVITY_CLASSES = ("none", "1%", "10%", "50%", "most", "all")
"""Upper bounds of the share of the store a filter selects: none, up to 1%, 10%, 50%, under all, all."""


def selectivity_class(matching: int, count: int) -> str:
    if matching == 0:
        return "none"
    if matching >= count:
        return "all"
    share = matching / count
    return "1%" if share <= 0.01 else "10%" if share <= 0.1 else "50%" if share <= 0.5 else "most"
