"""Shrinking pays for replays of the failure's size, not more (issue 11): a shrink candidate may
not cost more than the failure being shrunk, a full bulk part can shrink, and a small-scale
test case cuts its large writes."""

from __future__ import annotations

from hypothesis import find, seed
from hypothesis.stateful import run_state_machine_as_test

from umi_dst import registry
from umi_dst.campaign.shard import campaign_settings
from umi_dst.generation import strategies
from umi_dst.generation.determinism import seed_only_generation
from umi_dst.generation.machine import SMALL_SCALE_ROWS, MachineConfig, WriteRun, contract_machine, step_cost
from umi_dst.operations import Bulk, StoreBatch, rows_written


def test_a_full_bulk_part_shrinks_to_a_small_one():
    """Drawn with fewer choices than a repeating part, a full one was simpler to Hypothesis than
    any repeating one: a failure needing two rows kept all 300 through its shrink."""
    smallest = find(strategies.bulks(300), lambda bulk: bulk.count >= 2)
    assert smallest.count == 2


def test_a_small_scale_case_cuts_its_bulk_parts_and_its_long_run(tmp_path):
    machine = contract_machine(
        registry.resolve("sim"), dim=8, workdir=tmp_path, config=MachineConfig(long_cases=True)
    )()
    machine.open_store(scale=0, mask=0, shape=(8, WriteRun(seed=1, count=300, distinct=40)))
    machine.store_batch(op=StoreBatch((), Bulk(seed=2, count=300, distinct=300)))
    assert [rows_written(step.op) for step in machine.steps] == [1] * SMALL_SCALE_ROWS + [SMALL_SCALE_ROWS]
    machine.factory.destroy()

    machine = contract_machine(
        registry.resolve("sim"), dim=8, workdir=tmp_path, config=MachineConfig(long_cases=True)
    )()
    machine.open_store(scale=1, mask=0, shape=(8, None))
    machine.store_batch(op=StoreBatch((), Bulk(seed=2, count=300, distinct=300)))
    assert [rows_written(step.op) for step in machine.steps] == [300]
    machine.factory.destroy()


def test_no_shrink_candidate_costs_more_than_the_failure_being_shrunk(tmp_path):
    """Every test case run after the failure is found stays within its cost; the candidates
    that would not are rejected before the step that overruns (and some were)."""
    base = contract_machine(
        registry.resolve("umi_dst.selftest.mutants:upsert_appends_duplicate"),
        dim=8,
        workdir=tmp_path,
        config=MachineConfig(keep_going=True),
    )
    record = base.record
    after_failure: list[tuple[int, int]] = []

    class Watched(base):
        def teardown(self) -> None:
            if (
                record.shrink_budget is not None
                and record.failure is not None
                and self.steps is not record.failure.steps
            ):
                after_failure.append((sum(step_cost(step) for step in self.steps), self.cost))
            super().teardown()

    try:
        with seed_only_generation():
            run_state_machine_as_test(seed(1)(Watched), settings=campaign_settings(50, 30))
    except Exception as error:  # the planted bug, shrunk
        assert "ContractViolation" in type(error).__name__
    assert record.shrink_budget is not None, "the planted bug was not found"
    assert after_failure, "nothing was replayed while shrinking"
    assert max(ran for ran, _ in after_failure) <= record.shrink_budget
    assert any(drawn > record.shrink_budget for _, drawn in after_failure), "no candidate had to be rejected"
