"""The filtered recall battery: filtered recall judged per selectivity class (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest
from umi_dst.backends.sim import SimFactory, SimVectorBackend

from umi_dst.campaign.coverage import Coverage, FilteredRecall, selectivity_class
from umi_dst.campaign.report import CampaignReport, load
from umi_dst.campaign.shard import ShardResult, run_shard
from umi_dst.campaign.shards import Shard
from umi_dst.checking import filtered_recall_battery
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.harness import Harness
from umi_dst.filter_support import WHOLE_DIALECT
from umi_dst.selftest.filter_mutants import FilterAfterLimit, SelectiveFilterPaddedFromCandidates

DIM = 8
RECORDS = 300


def tagged_harness(backend_class: type[SimVectorBackend] = SimVectorBackend) -> Harness:
    """An approximate store of random records: 3 of tenant ``u1`` (1%), 30 of ``u2`` (10%),
    120 of ``u3`` (40%), the rest untagged."""
    harness = Harness(
        SimFactory(dim=DIM, approximate=True, recall_floor=0.9, filters=True, backend_class=backend_class)
    )
    rng = np.random.default_rng(3)
    tenants = ["u1"] * 3 + ["u2"] * 30 + ["u3"] * 120
    items = [
        (f"r{n:03d}", rng.standard_normal(DIM).astype(np.float32), {"user": tenants[n]} if n < len(tenants) else {})
        for n in range(RECORDS)
    ]
    for store in (harness.backend, harness.oracle):
        store.store_batch(items)
    return harness


def test_battery_aims_a_filter_at_every_class_the_metadata_can_express():
    oracle = tagged_harness().oracle
    batteries = filtered_recall_battery.filters_by_share(oracle, WHOLE_DIALECT)
    assert [b.share for b in batteries] == list(filtered_recall_battery.SHARES)
    for battery in batteries:
        for filter, matching in zip(battery.filters, battery.matching):
            assert matching == len(oracle.matching(filter)), filter
            assert selectivity_class(matching, RECORDS) == battery.share


def test_a_correct_store_passes_and_is_reported_per_class():
    harness = tagged_harness()
    harness.finish()
    report = harness.filtered_recall
    assert list(report.by_share) == list(filtered_recall_battery.SHARES)
    assert all(recalls == [1.0] * filtered_recall_battery.QUERIES for recalls in report.by_share.values())
    assert "1% 1.000" in report.summary()


def test_battery_is_the_same_for_the_same_state():
    first, second = (
        tagged_harness(SelectiveFilterPaddedFromCandidates),
        tagged_harness(SelectiveFilterPaddedFromCandidates),
    )
    support = WHOLE_DIALECT
    runs = [filtered_recall_battery.run(h.backend, h.oracle, h.factory.score_atol, support) for h in (first, second)]
    assert runs[0] == runs[1]


def test_a_selective_filter_losing_recall_is_caught_by_the_filtered_battery_alone():
    harness = tagged_harness(SelectiveFilterPaddedFromCandidates)
    with pytest.raises(ContractViolation, match=r"filtered queries whose filter selects up to 1?0?% of the store"):
        harness.finish()
    assert harness.recall.typical == [1.0] * len(harness.recall.typical), "the unfiltered battery sees no loss"
    assert harness.filtered_recall.by_share["all"] == [1.0] * filtered_recall_battery.QUERIES


def test_an_under_return_in_the_battery_is_a_violation_not_a_recall_loss():
    harness = tagged_harness(FilterAfterLimit)
    with pytest.raises(ContractViolation, match="under-returned"):
        filtered_recall_battery.run(harness.backend, harness.oracle, harness.factory.score_atol, WHOLE_DIALECT)


def test_the_ci_budget_catches_the_planted_recall_loss_by_the_filtered_battery_only(tmp_path, ci_settings):
    """The first cases of the ci budget's shard (seed 0, no shrinking): the whole budget and the
    seed's replay are in test_filter_mutants (slow)."""
    spec = "umi_dst.selftest.filter_mutants:selective_filter_padded_from_candidates"
    searched = run_shard(Shard(spec, 0, 1, 0, 12), steps=ci_settings.stateful_step_count, dim=8, workdir=tmp_path)
    assert searched.hits, f"not caught in {searched.cases} cases"
    assert all("filtered queries whose filter selects" in signature for signature in searched.hits), searched.hits
    assert any(recall.lowest_case_mean < 0.9 for recall in searched.coverage.filtered_recall.values())


def test_coverage_adds_up_filtered_recall_and_the_report_shows_it(tmp_path):
    coverage = Coverage(declares_filters=True)
    coverage.filtered_battery({"1%": [1.0, 0.5], "all": [1.0]})
    coverage.filtered_battery({"1%": [1.0, 1.0], "10%": []})
    assert coverage.filtered_recall == {"1%": FilteredRecall(2, 4, 3.5, 0.75), "all": FilteredRecall(1, 1, 1.0, 1.0)}
    again = Coverage.from_json(coverage.to_json())
    assert again == coverage
    again.merge(coverage)
    assert again.filtered_recall["1%"] == FilteredRecall(4, 8, 7.0, 0.75)
    shard = ShardResult(Shard("sim", 0, 1, 7, 2), cases=2, coverage=coverage)
    md_path, json_path = CampaignReport({"backends": ["sim"], "seed": 7}, [shard]).write(tmp_path)
    assert "1% 0.875 (lowest case 0.750; 4 queries in 2 cases), all 1.000" in md_path.read_text()
    assert load(json_path).shards[0].coverage.filtered_recall == coverage.filtered_recall
