"""The Sim oracle: exact, deterministic, independent of insertion and hash order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from umi_dst.backends.sim import SimFactory, SimVectorBackend

from umi_dst.checking.faults import FaultPlan
from umi_dst.contract import InjectedFault

DIM = 3


def test_upsert_replaces_and_delete_reports_existence():
    sim = SimVectorBackend(DIM)
    sim.store("a", [1, 0, 0])
    sim.store("a", [0, 1, 0])
    assert sim.count() == 1
    assert sim.get("a").tolist() == [0, 1, 0]
    assert sim.delete("a") is True and sim.delete("a") is False
    assert sim.get("a") is None and sim.count() == 0


def test_search_scores_are_cosine_and_ties_break_by_id():
    sim = SimVectorBackend(DIM)
    sim.store_batch([("b", [2, 0, 0]), ("a", [1, 0, 0]), ("c", [0, 1, 0]), ("d", [-1, 0, 0])])
    results = sim.search([1, 0, 0], 3)
    assert [(r.id, r.score) for r in results] == [("a", 1.0), ("b", 1.0), ("c", 0.0)]
    assert sim.search([1, 0, 0], 10_000)[-1].score == -1.0


@given(st.permutations(list(range(12))), st.integers(1, 12))
def test_search_result_does_not_depend_on_insertion_order(order, limit):
    vectors = {f"id{i}": np.float32([i % 3 + 1, i % 2, 1]) for i in range(12)}  # many exact ties
    reference = SimVectorBackend(DIM)
    reference.store_batch(sorted(vectors.items()))
    shuffled = SimVectorBackend(DIM)
    for i in order:
        shuffled.store(f"id{i}", vectors[f"id{i}"])
    query = [1, 0.5, 0.25]
    assert shuffled.search(query, limit) == reference.search(query, limit)


def test_delete_moves_last_slot_and_keeps_every_record_reachable():
    sim = SimVectorBackend(DIM)
    for i in range(40):  # past the initial capacity, so the matrices grow
        sim.store(str(i), [i + 1, 1, 0])
    for i in range(0, 40, 3):
        sim.delete(str(i))
    for i in range(40):
        expected = None if i % 3 == 0 else [i + 1, 1, 0]
        got = sim.get(str(i))
        assert (got is None and expected is None) or got.tolist() == expected
    assert sorted(r.id for r in sim.search([1, 0, 0], 100)) == sorted(str(i) for i in range(40) if i % 3)


def test_batch_repeated_id_keeps_last():
    sim = SimVectorBackend(DIM)
    sim.store_batch([("a", [1, 0, 0]), ("b", [0, 1, 0]), ("a", [0, 0, 1])])
    assert sim.get("a").tolist() == [0, 0, 1] and sim.count() == 2


def test_fault_plan_is_reproducible_and_after_faults_apply_the_write():
    def run(seed):
        sim = SimVectorBackend(DIM, FaultPlan(seed, before_rate=0.3, after_rate=0.3))
        outcomes = []
        for i in range(30):
            try:
                sim.store(str(i), [1, i, 0])
                outcomes.append("ok")
            except InjectedFault as fault:
                outcomes.append(str(fault).split()[0])
        return outcomes, sim.ids()

    first, second = run(7), run(7)
    assert first == second
    outcomes, stored = first
    assert {"ok", "error_before", "error_after"} <= set(outcomes)
    assert stored == sorted(str(i) for i, o in enumerate(outcomes) if o != "error_before")


def test_fault_plan_rejects_rates_that_do_not_sum_to_a_probability():
    with pytest.raises(ValueError, match="fault rates"):
        FaultPlan(0, before_rate=0.8, after_rate=0.5)


def test_factory_reopens_the_same_store():
    factory = SimFactory(dim=DIM)
    factory.open().store("a", [1, 0, 0])
    assert factory.open().exists("a")
    factory.destroy()
    assert not factory.open().exists("a")
