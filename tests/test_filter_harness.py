"""The filter capability end to end on the Sim: oracle answers, harness checks, seed round trip."""

from __future__ import annotations

import numpy as np
import pytest
from umi_dst.backends.sim import SimFactory, SimVectorBackend

from umi_dst.campaign.coverage import MIN_FILTERED, Coverage
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.harness import Harness
from umi_dst.contract import InvalidInput
from umi_dst.filter_ops import DeleteWhere, FilteredSearch, GetMetadata, StoreBatchTagged, StoreTagged, as_text
from umi_dst.operations import Step
from umi_dst.recipes import Random
from umi_dst.seedfiles.codec import DecodeError, decode_step, encode_step
from umi_dst.seedfiles.seed_bounds import check_step
from umi_dst.selftest.filter_mutants import FilterAfterLimit, IntStoredAsFloat, MetadataMergedOnUpsert

DIM = 4


def oracle_with_tenants() -> SimVectorBackend:
    sim = SimVectorBackend(DIM)
    sim.store_batch(
        [(f"r{i}", np.eye(DIM, dtype=np.float32)[i % DIM] + i / 100, {"user": f"u{i % 3}", "i": i}) for i in range(12)]
    )
    return sim


def test_filtered_search_ranks_only_matching_records():
    sim = oracle_with_tenants()
    query = np.eye(DIM, dtype=np.float32)[0]
    results = sim.search(query, 3, {"user": "u1"})
    assert all(sim.get_metadata(r.id)["user"] == "u1" for r in results) and len(results) == 3
    assert [r.id for r in results] == ["r4", "r10", "r7"]  # r4 lies on the query axis; then the larger offsets
    assert len(sim.search(query, 100, {"user": "u1"})) == 4
    assert sim.search(query, 5, {"user": "nobody"}) == []


def test_upsert_replaces_metadata_and_delete_where_counts():
    sim = oracle_with_tenants()
    sim.store("r0", np.ones(DIM, dtype=np.float32))
    assert sim.get_metadata("r0") == {} and sim.get_metadata("missing") is None
    assert sim.delete_where({"user": "u1"}) == 4 and sim.count() == 8
    assert sim.delete_where({"i": {"$gte": 1000}}) == 0


def test_malformed_filter_changes_nothing():
    sim = oracle_with_tenants()
    with pytest.raises(InvalidInput, match="unknown field operator"):
        sim.delete_where({"user": {"$like": "u%"}})
    with pytest.raises(InvalidInput, match="non-empty list"):
        sim.search(np.ones(DIM, dtype=np.float32), 3, {"$or": []})
    assert sim.count() == 12


def test_bad_batch_metadata_stores_nothing():
    sim = SimVectorBackend(DIM)
    with pytest.raises(InvalidInput, match="batch item 1: metadata value"):
        sim.store_batch([("a", np.ones(DIM)), ("b", np.ones(DIM), {"k": None})])
    assert sim.count() == 0


def run(backend_class: type[SimVectorBackend], *steps: Step) -> None:
    harness = Harness(SimFactory(dim=DIM, backend_class=backend_class, filters=True))
    for step in steps:
        harness.run(step)
    harness.finish()


TAG_A = StoreTagged("a", Random(1), as_text({"user": "u1", "n": 1}))


@pytest.mark.parametrize(
    ("backend_class", "steps", "named"),
    [
        (
            MetadataMergedOnUpsert,
            [TAG_A, StoreTagged("a", Random(1), as_text({"user": "u2"})), GetMetadata("a")],
            "keys differ",
        ),
        (IntStoredAsFloat, [TAG_A, GetMetadata("a")], "holds float 1.0, stored int 1"),
        (
            FilterAfterLimit,
            [
                StoreBatchTagged(tuple((f"x{i}", Random(i), as_text({"user": f"u{i % 2}"})) for i in range(8))),
                FilteredSearch(Random(99), 4, as_text({"user": "u1"})),
            ],
            "under-returned",
        ),
    ],
)
def test_harness_names_each_planted_bug(backend_class, steps, named):
    with pytest.raises(ContractViolation, match=named):
        run(backend_class, *[Step(op) for op in steps])
    run(SimVectorBackend, *[Step(op) for op in steps])  # the correct Sim passes the same steps


def test_delete_where_under_injected_faults_resolves_old_or_new():
    harness = Harness(SimFactory(dim=DIM, filters=True))
    harness.run(Step(TAG_A))
    harness.run(Step(DeleteWhere(as_text({"user": "u1"})), "error_before"))
    assert harness.fault_outcome == "old" and harness.oracle.count() == 1
    harness.run(Step(DeleteWhere(as_text({"user": "u1"})), "error_after"))
    assert harness.fault_outcome == "new" and harness.oracle.count() == 0


@pytest.mark.parametrize(
    "op",
    [
        StoreTagged(
            "a", Random(1), as_text({"big": 2**63 - 1, "f": 1.0, "z": -0.0, "b": True, "s": "'\\%_\U0001f600"})
        ),
        StoreBatchTagged((("a", Random(1), as_text({"n": 1})), ("b", Random(2), as_text({})))),
        DeleteWhere(as_text({"$or": [{"n": {"$in": [1, 1.0, True, "1"]}}, {"$not": {"s": {"$exists": True}}}]})),
        FilteredSearch(Random(3), 5, as_text({"n": {"$gt": 2**53}})),
        GetMetadata("a"),
    ],
)
def test_filter_steps_round_trip_through_the_seed_codec(op):
    step = Step(op, "error_after" if isinstance(op, DeleteWhere) else None)
    decoded = decode_step(encode_step(step), "steps[0]")
    assert decoded == step
    check_step(decoded, DIM, "steps[0]")


def test_seed_bounds_refuse_a_malformed_filter():
    with pytest.raises(DecodeError, match=r"steps\[0\]\.filter: .*unknown field operator"):
        check_step(Step(DeleteWhere(as_text({"n": {"$regex": "."}}))), DIM, "steps[0]")


def test_coverage_counts_filters_by_operator_and_share_of_the_store():
    coverage = Coverage()
    coverage.filtered(["$and", "$eq"], 0, 10)
    coverage.filtered(["$eq"], 1, 100)
    coverage.filtered(["$in"], None, 5)  # a delete_where: operators only
    coverage.filtered(["$eq"], 10, 10)
    coverage.filtered(["$eq"], 30, 100)
    assert coverage.filter_operators == {"$and": 1, "$eq": 4, "$in": 1}
    assert coverage.filter_selectivity == {"none": 1, "1%": 1, "all": 1, "50%": 1}
    again = Coverage.from_json(coverage.to_json())
    again.merge(coverage)
    assert again.filter_selectivity["none"] == 2 and again.filter_operators["$eq"] == 8


def test_coverage_counts_filtered_searches_by_side_of_the_limit_and_warns_when_few():
    coverage = Coverage(declares_filters=True)
    coverage.filtered(["$eq"], 2, 10, limit=5)
    coverage.filtered(["$eq"], 7, 10, limit=5)
    coverage.filtered(["$eq"], 5, 10, limit=5)
    coverage.filtered(["$in"], None, 5)  # a delete_where: no limit
    assert coverage.filter_cuts == {"short": 1, "cut": 1, "at": 1}
    warnings = coverage.warnings()
    assert any("matched fewer records than the limit" in w for w in warnings)
    assert any("selected none of the store" in w for w in warnings)
    for _ in range(MIN_FILTERED):
        for matching in (0, 1, 10, 50, 100):
            coverage.filtered(["$eq"], matching, 100, limit=matching or 1)
        coverage.filtered(["$eq"], 60, 100, limit=1)
    assert coverage.warnings() == []
    assert not Coverage().warnings(), "a backend without filters gets no filter warnings"
    assert Coverage.from_json(coverage.to_json()) == coverage
