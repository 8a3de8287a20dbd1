"""Aimed searches: limits resolved against the state, the rules a campaign's machine gets."""

from __future__ import annotations

import collections

import numpy as np
from hypothesis.stateful import RuleBasedStateMachine

from umi_dst.campaign.coverage import MIN_TIE_CUTOFFS, Coverage
from umi_dst.contract import MAX_LIMIT
from umi_dst.generation import search_mix
from umi_dst.generation.search_mix import LimitChoice, concrete_limit, limit_class


def test_tie_limit_prefers_an_exact_tie_then_one_within_tolerance_then_the_closest():
    scores = np.array([0.9, 0.5, 0.5, 0.3, 0.29995])
    assert concrete_limit(LimitChoice("tie"), scores, 1e-4) == 2  # cut between the two 0.5s
    assert concrete_limit(LimitChoice("tie"), np.array([0.9, 0.5, 0.3, 0.29995]), 1e-4) == 3
    assert concrete_limit(LimitChoice("tie"), np.array([0.9, 0.5, 0.2]), 1e-4) == 2  # closest gap 0.3
    assert concrete_limit(LimitChoice("tie", index=1), np.array([0.7, 0.7, 0.2, 0.2]), 1e-4) == 3


def test_limits_around_the_count_and_the_engines_thresholds_stay_valid():
    scores = np.zeros(7)
    assert [concrete_limit(LimitChoice("count", o), scores, 1e-4) for o in (-1, 0, 1)] == [6, 7, 8]
    assert concrete_limit(LimitChoice("near_40", 1), scores, 1e-4) == 41
    assert concrete_limit(LimitChoice("count", -1), np.zeros(0), 1e-4) == 1
    assert concrete_limit(LimitChoice("count", 1), np.zeros(MAX_LIMIT), 1e-4) == MAX_LIMIT
    assert concrete_limit(LimitChoice("one"), scores, 1e-4) == 1


def test_limit_classes_name_the_count_first():
    assert limit_class(10, 10) == "at_count"
    assert limit_class(11, 10) == "beside_count"
    assert limit_class(41, 500) == "near_40"
    assert limit_class(7, 500) == "below_count"
    assert limit_class(7, 3) == "above_count"


def test_campaign_machine_gets_the_aimed_rules_and_ci_machine_does_not(tmp_path):
    from umi_dst.backends.sim import SimFactory

    from umi_dst.campaign.shard import DEFAULT_CONFIG
    from umi_dst.generation.machine import MachineConfig, contract_machine

    def builder(directory, dim):
        return SimFactory(dim=dim)

    def rule_names(config):
        machine = contract_machine(builder, dim=8, workdir=tmp_path, config=config)
        assert issubclass(machine, RuleBasedStateMachine)
        return {name for name in dir(machine) if name.startswith("search")}

    assert {"search_aimed", "search_after_restore", "search_after_fault"} <= rule_names(DEFAULT_CONFIG)
    assert not {"search_aimed"} & rule_names(MachineConfig())


def test_aimed_queries_are_valid_between_a_record_and_its_scaled_copy():
    """A near tie of gap 0 between a record and its copy once made a NaN query (0/0)."""
    from hypothesis import given, settings
    from umi_dst.backends.sim import SimVectorBackend

    from umi_dst.generation.strategies import resolve
    from umi_dst.validation import validate_embedding

    oracle = SimVectorBackend(8)
    base = np.arange(1, 9, dtype=np.float32)
    oracle.store("a", base)
    oracle.store("b", base * 4)

    @settings(max_examples=200, database=None, derandomize=True)
    @given(search_mix.aimed_queries())
    def valid(query):
        validate_embedding(resolve(query, oracle.ids()).make(8, oracle.get), 8, "query")

    valid()


def test_the_search_share_counts_filtered_searches_as_searches():
    """A backend whose searches are mostly filtered is not warned as if it searched little."""
    coverage = Coverage(steps=100, operations=collections.Counter({"search": 12, "store": 80}))
    coverage.tie_cutoffs = MIN_TIE_CUTOFFS
    assert any("search (plain and filtered) was only 12 of 100" in w for w in coverage.warnings())
    coverage.operations["filtered_search"] = 8
    assert not any("was only" in w for w in coverage.warnings())
