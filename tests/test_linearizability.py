"""The linearizability checker on hand-built histories: what it accepts, what it rejects, and
how it explains a rejection."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from umi_dst.concurrency.history import Call, History, Planned
from umi_dst.concurrency.linearizability import NotLinearizable, check, decide
from umi_dst.contract import SearchResult
from umi_dst.operations import Count, Delete, Exists, Get, Search, Store, StoreBatch
from umi_dst.recipes import Explicit

DIM = 2
ATOL = 1e-4
X, Y = Explicit((1.0, 0.0)), Explicit((0.0, 1.0))


def vector(recipe) -> np.ndarray:
    return recipe.make(DIM, lambda id: None)


def planned(op) -> Planned:
    if isinstance(op, Store):
        return Planned(op, "store", (op.id, vector(op.embedding)))
    if isinstance(op, StoreBatch):
        return Planned(op, "store_batch", ([(id, vector(r)) for id, r in op.items],))
    if isinstance(op, Search):
        return Planned(op, "search", (vector(op.query), op.limit))
    if isinstance(op, Count):
        return Planned(op, "count", ())
    return Planned(op, op.kind, (op.id,))


def call(client: int, op, start: int, end: int, value=None, error: str | None = None) -> Call:
    return Call(client, planned(op), start, end, value, error)


def history(*calls: Call, initial: dict | None = None) -> History:
    return History(DIM, {id: vector(r) for id, r in (initial or {}).items()}, list(calls))


def linearizable(h: History) -> bool:
    return decide(h, atol=ATOL, exact=True).linearizable


def test_sequential_history_that_matches_the_model_is_linearizable():
    h = history(
        call(0, Store("a", X), 0, 1),
        call(0, Get("a"), 2, 3, vector(X)),
        call(1, Delete("a"), 4, 5, True),
        call(1, Exists("a"), 6, 7, False),
        call(0, Count(), 8, 9, 0),
    )
    verdict = check(h, atol=ATOL, exact=True)
    assert verdict.order == (0, 1, 2, 3, 4)


@pytest.mark.parametrize("seen", [None, "new"])
def test_a_read_concurrent_with_a_write_may_see_either_state(seen):
    got = vector(X) if seen else None
    assert linearizable(history(call(0, Store("a", X), 0, 10), call(1, Get("a"), 1, 2, got)))


def test_a_read_after_a_completed_write_must_see_it():
    h = history(call(0, Store("a", X), 0, 1), call(1, Get("a"), 2, 3, None))
    assert not linearizable(h)


def test_the_witness_order_respects_real_time_not_invocation_order():
    # The get started first but saw the store, so the store is ordered before it.
    h = history(call(1, Get("a"), 0, 10, vector(Y)), call(0, Store("a", Y), 1, 2))
    assert decide(h, atol=ATOL, exact=True).order == (1, 0)


def test_two_concurrent_deletes_cannot_both_remove_the_record():
    both = history(call(0, Delete("a"), 0, 5, True), call(1, Delete("a"), 1, 6, True), initial={"a": X})
    one = history(call(0, Delete("a"), 0, 5, True), call(1, Delete("a"), 1, 6, False), initial={"a": X})
    assert not linearizable(both)
    assert linearizable(one)


def test_results_use_the_sequential_checks_strict_types():
    assert not linearizable(history(call(0, Count(), 0, 1, np.int64(0))))
    assert not linearizable(history(call(0, Get("a"), 0, 1, vector(X).astype(np.float64)), initial={"a": X}))


def test_a_batch_lands_whole_or_not_at_all():
    batch = StoreBatch((("a", X), ("b", Y), ("a", Y)))
    torn = history(
        call(0, batch, 0, 10),
        call(1, Get("a"), 1, 2, vector(Y)),
        call(1, Exists("b"), 3, 4, False),
    )
    whole = history(call(0, batch, 0, 10), call(1, Get("a"), 1, 2, vector(Y)), call(1, Exists("b"), 3, 4, True))
    assert not linearizable(torn)
    assert linearizable(whole)


def test_search_results_are_judged_with_the_contracts_tolerance_and_ties():
    initial = {"a": X}
    before = [SearchResult("a", 0.0)]
    after = [SearchResult("b", 1.0)]
    assert linearizable(history(call(0, Store("b", Y), 0, 10), call(1, Search(Y, 1), 1, 2, before), initial=initial))
    assert linearizable(history(call(0, Store("b", Y), 0, 10), call(1, Search(Y, 1), 1, 2, after), initial=initial))
    within = [SearchResult("b", 1.0 - ATOL / 2)]
    beyond = [SearchResult("b", 1.0 - ATOL * 2)]
    assert linearizable(history(call(1, Search(Y, 1), 1, 2, within), initial={"b": Y}))
    assert not linearizable(history(call(1, Search(Y, 1), 1, 2, beyond), initial={"b": Y}))
    tie = {"b": Y, "c": Explicit((0.0, 2.0))}
    for returned in ("b", "c"):
        assert linearizable(history(call(0, Search(Y, 1), 0, 1, [SearchResult(returned, 1.0)]), initial=tie))


def test_an_indeterminate_write_may_land_late_or_never():
    failed = call(0, Store("a", X), 0, 1, error="InjectedFault: error_after")
    assert linearizable(history(failed, call(1, Get("a"), 2, 3, None)))
    assert linearizable(history(failed, call(1, Get("a"), 2, 3, None), call(1, Get("a"), 4, 5, vector(X))))
    assert not linearizable(history(failed, call(1, Get("a"), 2, 3, vector(X)), call(1, Get("a"), 4, 5, None)))


def test_an_indeterminate_write_cannot_land_before_it_was_invoked():
    h = history(call(1, Get("a"), 0, 1, vector(X)), call(0, Store("a", X), 2, 3, error="InjectedFault: error_before"))
    assert not linearizable(h)


def test_a_read_that_raised_constrains_nothing():
    assert linearizable(history(call(0, Count(), 0, 1, None, error="OSError: gone"), call(1, Count(), 2, 3, 0)))


def test_memoisation_explores_each_configuration_once():
    # Six concurrent stores of distinct ids, then a count no order can produce: the search
    # must visit every subset of the stores, but only once each (not every one of 6! orders).
    stores = [call(i % 3, Store(f"k{i}", X), 0, 100) for i in range(6)]
    verdict = decide(history(*stores, call(0, Count(), 200, 201, 7)), atol=ATOL, exact=True)
    assert not verdict.linearizable
    assert verdict.states == 2**6 - 1


def test_failure_names_the_smallest_set_of_calls_that_cannot_be_ordered():
    h = history(
        call(2, Exists("b"), 0, 50, False),
        call(0, Store("a", X), 1, 2),
        call(2, Store("b", Y), 51, 52),
        call(1, Get("a"), 3, 4, None),
        call(1, Count(), 60, 61, 2),
    )
    with pytest.raises(NotLinearizable) as caught:
        check(h, atol=ATOL, exact=True)
    failure = caught.value
    assert sorted(failure.core) == [1, 3]
    assert "these 2 calls cannot be ordered" in failure.message and "even if" not in failure.message
    assert "client 0" in failure.message and "store(id='a'" in failure.message
    assert "client 1" in failure.message and "get(id='a') -> None" in failure.message
    assert "count" not in failure.message, "calls after the first failure are not part of the explanation"


def test_explanation_keeps_only_the_reads_when_the_write_may_land_anywhere():
    # Having seen the value once, a reader cannot see the record missing again; the store
    # that wrote it is not needed to show that.
    h = history(
        call(0, Store("a", X), 0, 10),
        call(1, Get("a"), 1, 2, vector(X)),
        call(1, Get("a"), 3, 4, None),
    )
    with pytest.raises(NotLinearizable) as caught:
        check(h, atol=ATOL, exact=True)
    assert sorted(caught.value.core) == [1, 2]
    assert caught.value.optional == [0]
    assert "get(id='a') -> the vector #0 stored" in caught.value.message, "a returned vector is named by its writer"
    assert (
        "even if each of these writes, to records those calls read, took effect at any moment" in caught.value.message
    )


def test_explanation_prefers_a_read_back_that_names_the_lost_record():
    # The count shows that one of three acknowledged stores was lost; the read-back shows which.
    h = history(
        call(0, Store("a", X), 0, 1),
        call(1, Store("b", Y), 0, 1),
        call(2, Store("c", X), 0, 1),
        call(3, Count(), 2, 3, 2),
        call(3, Get("a"), 4, 5, vector(X)),
        call(3, Get("b"), 6, 7, None),
        call(3, Get("c"), 8, 9, vector(X)),
    )
    with pytest.raises(NotLinearizable) as caught:
        check(h, atol=ATOL, exact=True)
    assert sorted(caught.value.core) == [1, 5]
    assert "even if" not in caught.value.message, "writes to other records are not shown"


def test_a_call_cut_off_by_a_crash_is_indeterminate_but_an_acknowledged_write_must_survive_it():
    # Client 0's store returned before the crash; client 1's was cut off by it (its connection
    # died with the server): the read-back after the crash may or may not show the cut-off one.
    acknowledged = call(0, Store("a", X), 0, 5)
    cut = Call(1, planned(Store("b", Y)), 1, 20, error="OperationalError: server closed the connection", cut_off=True)
    for b in (None, vector(Y)):
        assert linearizable(
            history(acknowledged, cut, call(2, Get("a"), 30, 31, vector(X)), call(2, Get("b"), 32, 33, b))
        )
    lost = history(acknowledged, cut, call(2, Get("a"), 30, 31, None))
    with pytest.raises(NotLinearizable) as caught:
        check(lost, atol=ATOL, exact=True)
    assert sorted(caught.value.core) == [0, 2], "the acknowledged store and the read-back that misses it"


def test_a_write_struck_before_its_commit_never_took_effect():
    # Raised at a point whose one outcome is the old state: a reader may not see its value.
    struck = Call(
        0, planned(Store("a", X)), 0, 10, error="OperationalError: server closed the connection", never_applied=True
    )
    seen = call(1, Get("a"), 20, 21, vector(X))
    assert not linearizable(history(struck, seen))
    assert linearizable(history(dataclasses.replace(struck, never_applied=False), seen)), (
        "merely indeterminate, it may have"
    )
    assert linearizable(history(struck, call(1, Get("a"), 20, 21, None)))
