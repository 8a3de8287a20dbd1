"""The crash-points report's measurements, on small stores (the JSON-file store, a planted Sim bug: fast, no server)."""

from __future__ import annotations

import pytest

from umi_dst import registry
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.crash_states import CRASH
from umi_dst.concurrency.parallel import ParallelProgram, check_program
from umi_dst.operations import Delete, Get, Step, Store
from umi_dst.recipes import Random
from umi_dst.seedfiles import history_codec, parallel_seeds, seeds
from umi_dst.studies.crash_points import WRITE_KINDS, crash_state_rows, parallel_stability, soak


def test_every_write_kind_gets_its_crash_states_checked_and_a_verdict():
    rows = crash_state_rows("umi_dst.selftest.json_files:correct")
    assert [row.write for row in rows] == list(WRITE_KINDS)
    assert all(row.verdict == "pass" and row.checked >= 2 for row in rows)
    broken = crash_state_rows("umi_dst.selftest.json_files:rewrites_in_place")
    assert all(row.verdict.startswith("violation:") for row in broken)


def test_the_soak_counts_acknowledged_writes_lost():
    assert soak("umi_dst.selftest.json_files:correct", CRASH, cycles=2).lost == 0
    lossy = soak("umi_dst.selftest.json_files:acknowledges_before_durable", CRASH, cycles=2)
    assert lossy.lost > 0 and lossy.violations > 0


def test_a_parallel_seed_is_replayed_live_and_its_recorded_run_judged_again(tmp_path):
    """A store whose delete of a missing id reports True: every live run fails, and so does
    every judgement of the run the seed recorded."""
    spec = "umi_dst.selftest.mutants:delete_always_true"
    program = ParallelProgram((Step(Store("a", Random(1))),), ((Step(Delete("missing")),), (Step(Get("a")),)))
    factory = registry.build(spec, tmp_path, 4)
    with pytest.raises(ContractViolation) as caught:
        check_program(factory, program)
    seed = parallel_seeds.ParallelSeed(
        backend=spec,
        dim=4,
        clients_as="threads",
        prefix=list(program.prefix),
        clients=[list(c) for c in program.clients],
        failure=seeds.failure_record(caught.value, None),
        versions={},
        history=history_codec.recorded(caught.value.history, factory.score_atol, exact=True),
    )
    stability = parallel_stability(seeds.write(seed, tmp_path / "seeds"), runs=3)
    assert (stability["failed"], stability["recorded_failed"]) == (3, 3)
