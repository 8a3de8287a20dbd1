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


def test_limit_beyond_count_wants_every_record():
    check([R("a", 0.9), R("b", 0.89995), R("c", 0.5), R("d", -0.2)], limit=10_000)
