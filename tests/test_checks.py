"""The search check accepts every valid answer under the tie rule and rejects each kind of wrong one."""

from __future__ import annotations

import numpy as np
import pytest

from umi_dst.checks import ContractViolation, search_results
from umi_dst.contract import SearchResult as R

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
