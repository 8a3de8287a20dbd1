"""The search battery: every final state is searched where ties are, by the full top-k rule."""

from __future__ import annotations

import numpy as np
import pytest
from umi_dst.backends.sim import SimFactory, SimVectorBackend

from umi_dst.checking import search_battery
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.harness import Harness
from umi_dst.operations import Bulk, Step, Store, StoreBatch
from umi_dst.recipes import Scaled
from umi_dst.selftest.mutants import MUTANTS

DIM = 8


def tied_harness(backend_class: type[SimVectorBackend] = SimVectorBackend) -> Harness:
    """A store of random records and scaled copies of each, so every stored vector ties."""
    harness = Harness(SimFactory(dim=DIM, backend_class=backend_class))
    harness.run(Step(StoreBatch((), Bulk(seed=5, count=30, distinct=30))))
    for id in harness.oracle.ids():
        harness.run(Step(Store(f"copy-{id}", Scaled(id, 1))))
    return harness


def test_battery_cuts_searches_at_exact_ties_and_passes_a_correct_store():
    harness = tied_harness()
    battery = search_battery.searches(harness.oracle, harness.factory.score_atol)
    assert len(battery) == search_battery.RECORDS * 3 * 2
    tied = 0
    for _, query, limit in battery:
        _, scores = harness.oracle.scores(query)
        ranked = -np.sort(-scores)
        tied += 0 < limit < len(ranked) and ranked[limit - 1] == ranked[limit]
    assert tied >= search_battery.RECORDS * 2  # the stored and negated queries' tie limits at least
    assert search_battery.run(harness.backend, harness.oracle, harness.factory.score_atol, exact=True) == len(battery)
    harness.finish()


def test_battery_is_the_same_for_the_same_state():
    first, second = tied_harness(), tied_harness()
    a = search_battery.searches(first.oracle, 1e-4)
    b = search_battery.searches(second.oracle, 1e-4)
    assert [(k, q.tobytes(), n) for k, q, n in a] == [(k, q.tobytes(), n) for k, q, n in b]


@pytest.mark.parametrize("mutant", ["ties_at_cut_off_drop_best", "limit_off_by_one", "search_returns_farthest"])
def test_finish_catches_a_search_bug_by_the_battery_alone(mutant):
    harness = tied_harness(MUTANTS[mutant])
    with pytest.raises(ContractViolation, match="search battery"):
        harness.finish()


def test_empty_store_has_no_battery():
    assert search_battery.searches(SimVectorBackend(DIM), 1e-4) == []
