"""Maintenance as steps (issue 24): each declared operation of the real engines keeps every
result, under faults too; the step is named in seed files; the planted regime bugs are caught."""

from __future__ import annotations

import pytest

from umi_dst import registry
from umi_dst.campaign.coverage import MIN_FIRINGS, Coverage
from umi_dst.checking import maintenance_steps
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.harness import Harness
from umi_dst.contract import InvalidDeclaration, InvalidInput, declared_maintenance, declared_schedules, unindexed_rows
from umi_dst.operations import Bulk, CrashPoint, Delete, Maintain, Schedule, Search, Step, StoreBatch
from umi_dst.recipes import Random, Scaled
from umi_dst.seedfiles.codec import decode_step, encode_step
from umi_dst.selftest import maintenance_mutants

DIM = 8


def _filled(factory) -> Harness:
    """A harness over 30 records, five of them deleted since (deletion files, holes in the index)."""
    harness = Harness(factory)
    harness.run(Step(StoreBatch((), Bulk(1, 30, 30))))
    for id in harness.oracle.ids()[:5]:
        harness.run(Step(Delete(id)))
    return harness


@pytest.mark.parametrize(
    "spec, declared",
    [
        ("lance", ("build_index", "cleanup_versions", "optimize")),
        ("lance-approx", ("build_index", "cleanup_versions", "optimize")),
        ("postgres", ("reindex", "vacuum")),
        ("postgres-approx", ("build_index", "reindex", "vacuum")),
    ],
)
def test_each_declared_operation_changes_no_result(spec, declared, tmp_path):
    factory = registry.resolve(spec)(tmp_path, DIM)
    harness = _filled(factory)
    try:
        assert declared_maintenance(factory) == declared
        for operation in declared:
            harness.run(Step(Maintain(operation)))
            assert harness.maintenance_outcome == maintenance_steps.CLEAN
            harness.run(Step(StoreBatch((("after-" + operation, Random(7)),), None)))
            harness.run(Step(Search(Scaled("after-" + operation, 0), harness.oracle.count())))
        harness.finish()
    finally:
        harness.close()
        factory.destroy()


@pytest.mark.parametrize(
    "spec, fault, at",
    [
        ("lance-approx", "error_before", None),
        ("lance-approx", "crash", CrashPoint("after_ops", 2)),
        ("postgres-approx", "terminate_connection", CrashPoint("before_statement")),
    ],
)
def test_an_operation_cut_off_by_its_fault_leaves_every_record(spec, fault, at, tmp_path):
    factory = registry.resolve(spec)(tmp_path, DIM)
    harness = _filled(factory)
    try:
        harness.run(Step(Maintain("build_index"), fault, at))
        assert harness.maintenance_outcome == maintenance_steps.CUT_OFF
        assert harness.fault_outcome == "unchanged"
        harness.finish()
        if fault == "crash":
            assert harness.crash_states_checked == 0  # maintenance crash states are checked by maintenance_steps
    finally:
        harness.close()
        factory.destroy()


def test_an_undeclared_operation_is_refused_by_name(tmp_path):
    factory = registry.resolve("lance")(tmp_path, DIM)
    harness = Harness(factory)
    try:
        with pytest.raises(ContractViolation, match="declares no maintenance operation 'vacuum'"):
            harness.run(Step(Maintain("vacuum")))
        with pytest.raises(InvalidInput, match="unknown maintenance operation 'compact'"):
            harness.backend.maintain("compact")
    finally:
        harness.close()
        factory.destroy()


def test_a_declaration_that_is_not_a_tuple_of_names_is_refused():
    class Factory:
        name = "odd"
        maintenance = "optimize"

    with pytest.raises(InvalidDeclaration, match="maintenance = 'optimize'"):
        declared_maintenance(Factory())
    assert declared_maintenance(object()) == ()


def test_a_maintenance_step_round_trips_through_a_seed_file():
    step = Step(Maintain("cleanup_versions"), "crash", CrashPoint("torn", 3))
    encoded = encode_step(step)
    assert encoded == {"kind": "maintain", "operation": "cleanup_versions", "fault": "crash",
                       "at": {"point": "torn", "k": 3}}  # fmt: skip
    assert decode_step(encoded, "steps[0]") == step


def test_coverage_warns_for_an_operation_rarely_run_or_cut_off():
    coverage = Coverage(declared_maintenance={"optimize", "vacuum"})
    for _ in range(MIN_FIRINGS):
        coverage.maintained("optimize", maintenance_steps.CUT_OFF)
        coverage.maintained("vacuum", maintenance_steps.COMPLETED)
    warnings = [line for line in coverage.warnings() if line.startswith("maintenance")]
    assert warnings == [
        f"maintenance vacuum ran {MIN_FIRINGS} times and was cut off by a fault 0 times (fewer than {MIN_FIRINGS})"
    ]
    assert Coverage.from_json(coverage.to_json()).maintenance_interrupted == coverage.maintenance_interrupted


@pytest.mark.parametrize(
    "spec, operation, fault, at, outcome",
    [
        ("lance", "optimize", "error_after", None, maintenance_steps.COMPLETED),  # it ran to its end
        ("lance", "optimize", "crash", CrashPoint("after_ops", 63), maintenance_steps.COMPLETED),
        ("postgres", "vacuum", "terminate_connection", CrashPoint("before_commit"), maintenance_steps.REFUSED),
        ("postgres", "vacuum", "terminate_connection", CrashPoint("before_statement"), maintenance_steps.CUT_OFF),
    ],
)
def test_only_a_real_interruption_counts_as_cut_off(spec, operation, fault, at, outcome, tmp_path):
    factory = registry.resolve(spec)(tmp_path, DIM)
    harness = _filled(factory)
    try:
        harness.run(Step(Maintain(operation), fault, at))
        assert harness.maintenance_outcome == outcome
        harness.finish()
    finally:
        harness.close()
        factory.destroy()
    coverage = Coverage(declared_maintenance={operation})
    coverage.maintained(operation, outcome)
    counts = (coverage.maintenance_interrupted, coverage.maintenance_completed, coverage.maintenance_refused)
    expected = [
        outcome == maintenance_steps.CUT_OFF,
        outcome == maintenance_steps.COMPLETED,
        outcome == maintenance_steps.REFUSED,
    ]
    assert [c[operation] for c in counts] == expected


CAUGHT_BY = {
    "appended_rows_never_searched": "search returned 16 results, expected",
    "compaction_resurrects_delete": "which is not stored",
    "compaction_drops_update": "not a bit-exact round trip",
    "interrupted_build_serves_stale_snapshot": r"search score of 'bulk-1-9' at rank \d+ is \S+, but its cosine similarity is 1.0",
}


def regime(mutant: str, harness: Harness) -> list[Step]:
    """The steps that reach the regime a planted bug breaks, over ``_filled``'s store."""
    live = harness.oracle.ids()[-1]
    count = harness.oracle.count()
    return {
        "appended_rows_never_searched": [
            Step(Maintain("build_index")),
            Step(StoreBatch((("appended-1", Random(11)), ("appended-2", Random(12))), None)),
            Step(Search(Scaled("appended-2", 0), count + 2)),
        ],
        "compaction_resurrects_delete": [Step(Delete(live)), Step(Maintain("optimize"))],
        "compaction_drops_update": [Step(StoreBatch(((live, Random(13)),), None)), Step(Maintain("cleanup_versions"))],
        "interrupted_build_serves_stale_snapshot": [  # crashed after the build's start is journaled
            Step(Maintain("build_index"), "crash", CrashPoint("after_ops", 2)),
            Step(StoreBatch(((live, Random(13)),), None)),
            Step(Search(Scaled(live, 0), count)),
        ],
    }[mutant]


@pytest.mark.parametrize("mutant", sorted(maintenance_mutants.MAINTENANCE_MUTANTS))
def test_each_planted_regime_bug_is_caught_and_the_correct_store_passes(mutant, tmp_path):
    for spec, caught in ((mutant, True), ("control", False)):
        factory = getattr(maintenance_mutants, spec)(tmp_path / spec, DIM)
        harness = _filled(factory)
        try:
            steps = regime(mutant, harness)
            if caught:
                with pytest.raises(ContractViolation, match=CAUGHT_BY[mutant]):
                    for step in steps:
                        harness.run(step)
            else:
                for step in steps:
                    harness.run(step)
                harness.finish()
        finally:
            harness.close()
            factory.destroy()


def test_campaign_machine_gets_maintenance_rules_for_a_declaring_backend_only(tmp_path):
    from umi_dst.campaign.shard import DEFAULT_CONFIG
    from umi_dst.generation.machine import MachineConfig, contract_machine

    def rules(spec, config):
        machine = contract_machine(registry.resolve(spec), dim=DIM, workdir=tmp_path / spec, config=config)
        return {name for name in dir(machine) if name.startswith(("maintain", "search_appended", "reschedule"))}

    assert rules("lance-approx", DEFAULT_CONFIG) == {
        "maintain_build_index", "maintain_cleanup_versions", "maintain_optimize", "search_appended", "reschedule"
    }  # fmt: skip
    assert rules("sim", DEFAULT_CONFIG) == set()
    assert rules("lance-approx", MachineConfig()) == set()


def test_lance_says_how_many_rows_its_index_leaves_out_until_a_compaction(tmp_path):
    factory = registry.resolve("lance-approx")(tmp_path, DIM)
    harness = _filled(factory)
    try:
        harness.run(Step(Maintain("build_index")))
        assert unindexed_rows(harness.backend) == 0
        harness.run(Step(StoreBatch((("appended-1", Random(11)), ("appended-2", Random(12))), None)))
        assert unindexed_rows(harness.backend) == 2
        harness.run(Step(Maintain("optimize")))
        assert unindexed_rows(harness.backend) == 0
    finally:
        harness.close()
        factory.destroy()
    exact = registry.resolve("lance")(tmp_path / "exact", DIM)
    try:
        assert unindexed_rows(exact.open()) is None  # exact mode: every search is a flat scan
    finally:
        exact.destroy()


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(maintenance_mutants.MAINTENANCE_MUTANTS))
def test_the_main_jobs_budget_catches_each_planted_regime_bug_and_its_seed_replays(mutant, tmp_path):
    """The machine of ``umi-dst run`` (its default configuration, cases and steps) finds the bug."""
    from umi_dst.campaign.shard import DEFAULT_CONFIG, DEFAULT_EXAMPLES, DEFAULT_STEPS, run_campaign
    from umi_dst.seedfiles.replay import replay_file

    spec = f"umi_dst.selftest.maintenance_mutants:{mutant}"
    result = run_campaign(spec, dim=None, examples=DEFAULT_EXAMPLES, steps=DEFAULT_STEPS, seed=0,
                          seeds_dir=tmp_path / "seeds", workdir=tmp_path, config=DEFAULT_CONFIG)  # fmt: skip
    assert not result.passed, f"{mutant} was not caught within the main job's budget"
    assert replay_file(result.seed_path, workdir=tmp_path).reproduced
    control = "umi_dst.selftest.maintenance_mutants:control"
    assert not replay_file(result.seed_path, backend=control, workdir=tmp_path).reproduced


def test_a_seed_with_a_maintenance_step_replays_its_verdict_and_names_the_step(tmp_path):
    from umi_dst.seedfiles import seeds
    from umi_dst.seedfiles.replay import replay_file

    steps = [Step(StoreBatch((), Bulk(1, 30, 30))), Step(Delete("bulk-1-9")), Step(Maintain("optimize"), "error_after")]
    seed = seeds.SeedFile("umi_dst.selftest.maintenance_mutants:compaction_resurrects_delete", DIM, steps,
                          {"step": 2, "error": "ContractViolation", "message": ""}, {})  # fmt: skip
    path = seeds.write(seed, tmp_path / "seeds")
    lines: list[str] = []
    assert replay_file(path, workdir=tmp_path, log=lines.append).at_step == 2
    assert "step 2: maintain(operation='optimize') under fault error_after" in lines
    control = "umi_dst.selftest.maintenance_mutants:control"
    assert not replay_file(path, backend=control, workdir=tmp_path).reproduced
    with pytest.raises(seeds.MalformedSeed, match=r"steps\[2\].operation: backend 'sim' declares no maintenance"):
        replay_file(path, backend="sim", workdir=tmp_path)


def test_a_schedule_step_sets_when_the_store_builds_its_index_and_seeds_name_it(tmp_path):
    factory = registry.resolve("lance-approx")(tmp_path, DIM)
    harness = Harness(factory)
    try:
        assert declared_schedules(factory) == {"compaction_every": (0, 4, 32), "index_min_rows": (8, 100, 1000)}
        harness.run(Step(Schedule("index_min_rows", 1000)))
        harness.run(Step(Schedule("compaction_every", 0)))
        harness.run(Step(StoreBatch((), Bulk(1, 30, 30))))
        assert harness.backend.run(harness.backend.table.list_indices()) == []  # 30 rows: no index yet
        assert harness.backend.config.compaction is None
        with pytest.raises(ContractViolation, match="declares no schedule index_min_rows = 7"):
            harness.run(Step(Schedule("index_min_rows", 7)))
        harness.finish()
    finally:
        harness.close()
        factory.destroy()
    step = Step(Schedule("compaction_every", 4))
    assert decode_step(encode_step(step), "steps[0]") == step
