"""The search check accepts every valid answer under the tie rule and rejects each kind of wrong one."""

from __future__ import annotations

import numpy as np
import pytest
from umi_dst.backends.sim import SimVectorBackend

from umi_dst.checking.checks import ContractViolation, search_results
from umi_dst.contract import SearchResult as R
from umi_dst.generation.strategies import NEAR_TIE_GAPS
from umi_dst.recipes import NearTie, random_vector

IDS = ["a", "b", "c", "d"]
SCORES = np.array([0.9, 0.9 - 5e-5, 0.5, -0.2])
ATOL = 1e-4


def check(results, limit=2, exact=True):
    return search_results(results, IDS, SCORES, limit, ATOL, exact)


def test_accepts_either_order_and_either_member_of_a_tie():
    assert check([R("a", 0.9), R("b", 0.89995)]) == 1.0
    assert check([R("b", 0.89995), R("a", 0.89995)], limit=1 + 1) == 1.0
    assert check([R("b", 0.89995)], limit=1) == 1.0


@pytest.mark.parametrize(
    ("results", "limit", "complaint"),
    [
        ([R("a", 0.9)], 2, "returned 1 results"),
        ([R("a", 0.9), R("b", 0.89995), R("c", 0.5)], 2, "returned 3 results"),
        ([R("a", 0.9), R("a", 0.9)], 2, "twice"),
        ([R("a", 0.9), R("zzz", 0.8)], 2, "not stored"),
        ([R("a", 0.1), R("b", 0.89995)], 2, "cosine similarity"),
        ([R("a", 1 - 0.9), R("b", 1 - 0.89995)], 2, "cosine similarity"),
        ([R("b", 0.8999), R("a", 0.9)], 2, "non-increasing"),
        ([R("a", 0.9), R("c", 0.5)], 2, "valid top-2"),
        ([R("a", 0.9), R("b", float("nan"))], 2, "cosine similarity"),
    ],
)
def test_rejects_wrong_answers(results, limit, complaint):
    with pytest.raises(ContractViolation, match=complaint):
        check(results, limit)


def test_approximate_mode_reports_recall_instead_of_failing():
    assert check([R("a", 0.9), R("c", 0.5)], exact=False) == 0.5


TIED_AT_CUT_OFF = (["a", "b", "c"], np.array([1.0, 0.5, 0.5]))


def test_a_tie_at_the_cut_off_does_not_excuse_leaving_out_the_best():
    ids, scores = TIED_AT_CUT_OFF
    assert search_results([R("a", 1.0), R("c", 0.5)], ids, scores, 2, ATOL, True) == 1.0
    with pytest.raises(ContractViolation, match="left out 'a'"):
        search_results([R("b", 0.5), R("c", 0.5)], ids, scores, 2, ATOL, True)
    assert search_results([R("b", 0.5), R("c", 0.5)], ids, scores, 2, ATOL, False) == 0.5, "recall: one of the two"


def test_true_scores_may_not_be_inverted_by_more_than_the_tolerance():
    ids, scores = ["a", "b"], np.array([0.9, 0.9 - 1.5 * ATOL])
    middle = 0.9 - 0.75 * ATOL  # within the tolerance of both, so the reported order looks fine
    assert search_results([R("a", middle), R("b", middle)], ids, scores, 2, ATOL, True) == 1.0
    for exact in (True, False):
        with pytest.raises(ContractViolation, match="ranks 'a' .* below 'b'"):
            search_results([R("b", middle), R("a", middle)], ids, scores, 2, ATOL, exact)


def test_limit_beyond_count_wants_every_record():
    check([R("a", 0.9), R("b", 0.89995), R("c", 0.5), R("d", -0.2)], limit=10_000)


@pytest.mark.parametrize("dim", [2, 8, 1536])
@pytest.mark.parametrize("gap", NEAR_TIE_GAPS)
def test_near_tie_query_ranks_two_records_the_chosen_gap_apart(dim, gap):
    oracle = SimVectorBackend(dim)
    oracle.store("a", random_vector(1, dim))
    oracle.store("b", random_vector(2, dim))
    query = NearTie("a", "b", gap).make(dim, oracle.get)
    ids, scores = oracle.scores(query)
    true = dict(zip(ids, scores.tolist()))
    assert abs(true["a"] - true["b"] - gap) < 1e-6


def test_near_tie_query_of_records_pointing_the_same_way_is_the_record():
    oracle = SimVectorBackend(4)
    oracle.store("a", np.array([1, 2, 3, 4], dtype=np.float32))
    oracle.store("twice", np.array([2, 4, 6, 8], dtype=np.float32))
    assert NearTie("a", "twice", 1e-4).make(4, oracle.get).tobytes() == oracle.get("a").tobytes()


@pytest.mark.parametrize("gap", NEAR_TIE_GAPS)
def test_order_check_at_near_ties_allows_inversions_up_to_the_tolerance(gap):
    """Two records a near-tie query ranks ``gap`` apart, reported inverted with scores that
    each stay within the tolerance: accepted up to the tolerance, refused past it."""
    oracle = SimVectorBackend(8)
    oracle.store("a", random_vector(1, 8))
    oracle.store("b", random_vector(2, 8))
    ids, scores = oracle.scores(NearTie("a", "b", gap).make(8, oracle.get))
    true = dict(zip(ids, scores.tolist()))
    middle = (true["a"] + true["b"]) / 2
    inverted = [R("b", middle), R("a", middle)]
    if gap <= ATOL:
        assert search_results(inverted, ids, scores, 2, ATOL, True) == 1.0
    else:
        with pytest.raises(ContractViolation, match="ranks 'a' .* below 'b'"):
            search_results(inverted, ids, scores, 2, ATOL, True)
