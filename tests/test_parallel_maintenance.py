"""Maintenance beside other clients (issue 24): a client of the parallel mode runs PostgreSQL's
``REINDEX TABLE CONCURRENTLY`` while the others store, delete and search; the history must
stay linearizable (maintenance changes no result), a planted reindex that does change one is
caught, and the step is recorded in parallel seeds and replayed."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from umi_dst.backends.postgres.server import admin_connection

from umi_dst import registry
from umi_dst.concurrency.parallel import ParallelProgram, check_program, replay_parallel, run_parallel
from umi_dst.contract import declared_maintenance
from umi_dst.operations import Count, Delete, Get, Maintain, Search, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.seedfiles import parallel_seeds
from umi_dst.seedfiles.seeds import MalformedSeed

DIM = 8
PLANTED = "umi_dst.selftest.concurrent_maintenance_mutants:reindex_writes_back_snapshot"
REINDEX = Step(Maintain("reindex_concurrently"))
PREFIX = (Step(StoreBatch(tuple((f"k{i}", Random(i)) for i in range(10)))),)  # past the index threshold
WRITER = (Step(Store("k0", Random(20))), Step(Delete("k1")), Step(Store("k2", Random(21))), Step(Get("k0")),
          Step(Store("new", Random(22))), Step(Count()))  # fmt: skip
READER = (Step(Search(Random(5), 3)), Step(Get("k2")), Step(Count()), Step(Search(Random(6), 12)))
PROGRAM = ParallelProgram(PREFIX, ((REINDEX,) * 4, WRITER, READER, (REINDEX,) * 3))
"""Two clients reindex, so two ``REINDEX CONCURRENTLY`` of one table meet too (they deadlocked
each other before the store gave them turns)."""


def _index_files(factory) -> dict[str, int]:
    with admin_connection(factory.server) as connection:
        rows = connection.execute(
            "SELECT indexrelid::regclass::text, pg_relation_filenode(indexrelid) FROM pg_index "
            "WHERE indrelid = %s::regclass",
            (factory.table.as_string(connection),),
        ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("spec", ["postgres", "postgres-approx"])
def test_reindex_concurrently_beside_writers_and_searchers_is_linearizable(spec, tmp_path):
    """Also the regression test of a deadlock it found: an approximate store's writer took its
    index-building lock while a ``REINDEX CONCURRENTLY`` ran, each waited for the other, and
    PostgreSQL aborted one (most runs failed before ``_index_when_ready`` locked ``NOWAIT``)."""
    for run in range(3):
        factory = registry.build(spec, tmp_path / f"run-{run}", DIM)
        try:
            assert declared_maintenance(factory, "concurrent_maintenance") == ("reindex_concurrently",)
            before = _index_files(factory)
            history = check_program(factory, PROGRAM)
            after = _index_files(factory)
        finally:
            factory.destroy()
        reindexes = [call for call in history.calls if call.method == "maintain"]
        assert len(reindexes) == 7 and all(call.error is None for call in reindexes)
        others = [call for call in history.calls if call.client in (1, 2)]
        assert any(not (r.precedes(o) or o.precedes(r)) for r in reindexes for o in others), "nothing overlapped"
        assert len(after) == (2 if spec == "postgres-approx" else 1) and before.keys() <= after.keys()
        assert all(after[name] != before[name] for name in before), "REINDEX built no new index file"


def test_a_reindex_that_writes_back_its_snapshot_is_caught_beside_a_writer_only(tmp_path):
    alone = ParallelProgram(PREFIX, ((REINDEX, *WRITER, REINDEX, *READER),))
    check_program(registry.build(PLANTED, tmp_path / "alone", DIM), alone)  # one client sees a correct store
    failures = 0
    for run in range(3):
        factory = registry.build(PLANTED, tmp_path / f"run-{run}", DIM)
        try:
            check_program(factory, PROGRAM)
        except Exception as error:
            assert "is not linearizable" in str(error)
            failures += 1
        finally:
            factory.destroy()
    assert failures >= 1, "the writes undone by the reindex went unseen in 3 runs"


def test_the_parallel_mode_draws_concurrent_maintenance_and_its_seed_replays(tmp_path, ci_settings):
    budget = settings(ci_settings, phases=[Phase.generate], max_examples=40)
    result = run_parallel(PLANTED, dim=DIM, workdir=tmp_path, settings=budget, maintenance=True,
                          seeds_dir=tmp_path / "seeds")  # fmt: skip
    assert not result.passed and result.seed_path is not None, "the planted reindex was not caught"
    seed = parallel_seeds.load(result.seed_path)
    assert any(step.op == Maintain("reindex_concurrently") for steps in seed.clients for step in steps)
    assert replay_parallel(seed, runs=3, workdir=tmp_path).reproduced
    assert not replay_parallel(seed, "postgres", runs=3, workdir=tmp_path).reproduced
    correct = run_parallel("postgres-approx", dim=DIM, workdir=tmp_path, maintenance=True,
                           settings=settings(ci_settings, max_examples=15))  # fmt: skip
    assert correct.passed, correct.failure


def test_maintenance_a_backend_does_not_run_beside_clients_is_refused_by_name(tmp_path):
    factory = registry.build("postgres", tmp_path, DIM)
    try:
        with pytest.raises(MalformedSeed, match=r"clients\[1\]\[0\].operation: .* runs no maintenance 'vacuum'"):
            check_program(factory, ParallelProgram((), ((Step(Count()),), (Step(Maintain("vacuum")),))))
    finally:
        factory.destroy()
    with pytest.raises(ValueError, match="declares no concurrent_maintenance"):
        run_parallel("sim", dim=DIM, workdir=tmp_path, maintenance=True)
