"""Aimed filters select the share of the store they are sized for (umi_dst.generation.filter_aims)."""

from __future__ import annotations

import pytest

from umi_dst.filters import matches, parse_filter
from umi_dst.generation.filter_aims import SHAPES, FilterAim, concrete_filter, target_count

STORE = [{}] * 100 + [{"user": f"u{i % 4}", "turn": i, "kind": f"k'{i % 10}"} for i in range(100)]
"""200 records: half untagged (a bulk), half of four tenants with distinct turns."""


def selected(aim: FilterAim, store: list[dict] = STORE) -> int:
    node = parse_filter(concrete_filter(aim, store))
    return sum(matches(node, m) for m in store)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("index", range(4))
def test_none_selects_nothing_and_all_selects_everything(shape, index):
    assert selected(FilterAim("none", shape, index)) == 0
    assert selected(FilterAim("all", shape, index)) == len(STORE)


@pytest.mark.parametrize("share", ["one", "1%", "10%", "50%"])
def test_a_range_selects_the_target_share_of_the_store(share):
    # index 1 picks "turn" (keys: kind, turn, user), whose values are distinct: the cut is exact
    assert selected(FilterAim(share, "range", 1)) == target_count(share, len(STORE))


@pytest.mark.parametrize("share", ["one", "1%", "10%", "50%"])
@pytest.mark.parametrize("shape", ["eq", "in", "not_in", "tenant_and_range"])
def test_other_shapes_select_some_but_not_all(share, shape):
    assert 0 < selected(FilterAim(share, shape, 2)) < len(STORE)


def test_an_equality_is_a_tenant_filter_and_in_reaches_the_target():
    # the index picks the key (of kind, turn, user) and one of the four tenants of 25 records,
    # equally close to 10% of 200
    assert [concrete_filter(FilterAim("10%", "eq", i), STORE) for i in (2, 5, 8)] == [
        {"user": "u2"},
        {"user": "u1"},
        {"user": "u0"},
    ]
    assert selected(FilterAim("50%", "in", 2)) >= target_count("50%", len(STORE))


def test_a_filter_selecting_none_on_strings_carries_a_quote():
    assert "'" in concrete_filter(FilterAim("none", "eq", 0), STORE)["kind"]


def test_a_store_without_metadata_gets_a_tenant_filter():
    assert concrete_filter(FilterAim("50%", "range", 3), [{}, {}]) == {"user": "u1"}
