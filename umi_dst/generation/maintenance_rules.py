"""The machine's rules for the maintenance capability (docs/maintenance.md): index builds,
compactions, version clean-ups, reindexes and vacuums as steps, under faults like writes.

The states where real engines break are made by maintenance: an index built after data exists,
rows appended after it (searched through the unindexed path), a compaction, a clean-up of old
versions, an index rebuilt after many deletes. So each declared operation is a step of its own,
run under no fault, an injected one, a nemesis or a crash point, and the states it leaves
are searched right after. They are added only to the machine of a backend that declares
maintenance (``add_rules``), so the cases drawn for every other backend stay what they were.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from umi_dst.checking.faults import ERROR_AFTER
from umi_dst.contract import declared_schedules
from umi_dst.generation import search_mix, strategies
from umi_dst.generation.search_mix import LimitChoice
from umi_dst.generation.strategies import Pick, concrete_id
from umi_dst.operations import CrashPoint, Delete, Maintain, Schedule, Step, StoreBatch
from umi_dst.recipes import Random, Recipe, Scaled

STRIKES = (3, 4)
"""A ``search_after_maintenance`` step runs under a fault 3 times in 4, else with none; a
``maintain_<operation>`` step always runs under one, and the index builds of ``search_appended`` and
``rebuild_after_deletes`` under none: each operation is to be cut off by a fault often (the
coverage floor counts runs and cut-offs alike) and searched after clean runs too."""
EVEN_CHOICES = 60
"""A ``maintain_<operation>`` rule draws its fault as one of this many values, evenly, and takes
it modulo the faults it may use (3 to 6, all dividing 60): Hypothesis's integers favour small
and boundary values, which left some faults almost never drawn."""
RUNS = (2, 3)
"""A ``maintain_<operation>`` step runs its operation this many times in a row (bounds included),
each under a fault drawn anew, as an operator retries a failed build: most faults leave the call
completed (a nemesis that struck after it, a crash after its last file operation), so one run
per step left some operations cut off under the coverage floor in the main job."""
EARLY_CRASH_POINTS = 16
"""The file operations a ``maintain_<operation>`` crash may come after (0 to 15): a build makes
about a dozen, so most such crashes land inside it."""
APPENDED = (1, 12)
"""New records a ``search_appended`` rule writes after an index build (bounds included)."""
DELETED = (2, 16)
"""Records a ``rebuild_after_deletes`` rule deletes before it rebuilds the index."""


def add_rules(machine: type, recipe_dim: int, operations: tuple[str, ...]) -> None:
    """Give ``machine`` (a ``contract_machine`` class) the maintenance rules, with a rule of
    its own for each of the backend's ``operations``."""
    rules = _rules(recipe_dim)
    rules.update({f"maintain_{operation}": _faulty_maintenance_rule(operation) for operation in operations})
    for name, method in rules.items():
        method.__name__ = method.__qualname__ = name
        setattr(machine, name, method)


def _maintain(machine, operation: str, fault: int, strike: int, point: int, k: int, completing: bool = True) -> None:
    """One maintenance step: under a fault of the case (``STRIKES`` of the times), at a drawn
    crash point when that fault places its strikes; ``completing=False``: not ``error_after``,
    with which the operation runs to its end."""
    faults = tuple(f for f in machine.harness.available_faults() if completing or f != ERROR_AFTER)
    chosen = faults[fault % len(faults)] if faults and strike <= STRIKES[0] else None
    points = machine.harness.crash_points(chosen) if chosen else ()
    at = CrashPoint(points[point % len(points)], k) if points else None
    machine.run(Step(Maintain(operation), chosen, at))


def _faulty_maintenance_rule(operation: str) -> Callable:
    """``operation`` under one of the case's faults, ``RUNS`` times, never ``error_after``: a rule per
    operation, so each is run and cut off about as often whatever else the rules run (a single
    rule drawing among them left the ones no other rule runs under the coverage floor:
    reports/maintenance-20261207.md)."""

    strike = st.tuples(
        st.sampled_from(range(EVEN_CHOICES)), st.integers(0, 15), st.sampled_from(range(EARLY_CRASH_POINTS))
    )

    @precondition(lambda self: operation in self.maintenance)
    @rule(strikes=st.lists(strike, min_size=RUNS[0], max_size=RUNS[1]))
    def maintain(self, strikes: list[tuple[int, int, int]]) -> None:
        for fault, point, k in strikes:
            _maintain(self, operation, fault, 1, point, k, completing=False)

    return maintain


def _rules(recipe_dim: int) -> dict[str, Callable]:
    maintenance = {
        "choice": st.integers(0, 63),
        "fault": st.integers(0, 255),
        "strike": st.integers(1, STRIKES[1]),
        "point": st.integers(0, 15),
        "k": st.integers(0, 63),
    }

    def operation(self, choice: int) -> str:
        return self.maintenance[choice % len(self.maintenance)]

    @precondition(lambda self: bool(self.maintenance))
    @rule(**maintenance, query=search_mix.aimed_queries(), limits=search_mix.limit_lists)
    def search_after_maintenance(
        self, choice: int, fault: int, strike: int, point: int, k: int, query: Recipe, limits: list[LimitChoice]
    ) -> None:
        """Search the state a maintenance step left, whether it completed or was cut off."""
        _maintain(self, operation(self, choice), fault, strike, point, k)
        search_mix.searches(self, query, limits)

    @precondition(lambda self: "build_index" in self.maintenance)
    @rule(seed=strategies.seeds, count=st.integers(*APPENDED), limits=search_mix.limit_lists)
    def search_appended(self, seed: int, count: int, limits: list[LimitChoice]) -> None:
        """Build the index, append new records after it (rows the index does not hold until a
        compaction folds them in), then search by an appended vector: it must be found."""
        self.run(Step(Maintain("build_index")))
        items = tuple((f"appended-{seed % 10_000}-{i}", Random((seed + i) % 2**32)) for i in range(count))
        self.run(Step(StoreBatch(items, None)))
        search_mix.searches(self, Scaled(items[-1][0], 0), [LimitChoice("one"), *limits])

    @precondition(lambda self: "build_index" in self.maintenance)
    @rule(doomed=st.lists(strategies.picks, min_size=DELETED[0], max_size=DELETED[1]), limits=search_mix.limit_lists,
          query=search_mix.aimed_queries())  # fmt: skip
    def rebuild_after_deletes(self, doomed: list[Pick], limits: list[LimitChoice], query: Recipe) -> None:
        """Delete many records, rebuild the index over what is left, then search: no deleted
        record may come back, no live one may be lost (chroma #7758)."""
        for pick in doomed:
            self.run(Step(Delete(concrete_id(pick, self.harness.oracle.ids()))))
        self.run(Step(Maintain("build_index")))
        search_mix.searches(self, query, limits)

    @precondition(lambda self: bool(declared_schedules(self.factory)))
    @rule(setting=st.integers(0, 15), value=st.integers(0, 15))
    def reschedule(self, setting: int, value: int) -> None:
        """Set one of the backend's automatic schedules (compaction cadence, index threshold)."""
        schedules = declared_schedules(self.factory)
        name = sorted(schedules)[setting % len(schedules)]
        self.run(Step(Schedule(name, schedules[name][value % len(schedules[name])])))

    return {
        "reschedule": reschedule,
        "search_after_maintenance": search_after_maintenance,
        "search_appended": search_appended,
        "rebuild_after_deletes": rebuild_after_deletes,
    }
