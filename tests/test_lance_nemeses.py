"""The Lance nemeses, driven for real, with the outcome checked against the Sim oracle."""

from __future__ import annotations

import numpy as np
import pytest
from umi_dst.backends.lance import upstream
from umi_dst.backends.lance.factory import exact_factory
from umi_dst.backends.lance.nemeses import AFTER_COMMITS, KillWriter, WriterKilled, competitor_pid
from umi_dst.backends.lance.store import LanceVectorBackend
from umi_dst.backends.sim import SimVectorBackend

from umi_dst.concurrency.parallel import placed_faults
from umi_dst.contract import WriteCall
from umi_dst.operations import CrashPoint
from umi_dst.recipes import random_matrix

DIM = 16


def content(backend: LanceVectorBackend) -> dict[str, bytes]:
    table = backend.table
    if table is None:
        return {}
    rows = backend.run(table.to_arrow())
    matrix = np.array(rows["embedding"].combine_chunks().flatten().to_numpy(), dtype=np.float32).reshape(-1, DIM)
    ids = rows["id"].to_pylist()
    assert len(set(ids)) == len(ids), "duplicate ids in the table"
    return {id: row.tobytes() for id, row in zip(ids, matrix)}


def oracle_content(oracle: SimVectorBackend) -> dict[str, bytes]:
    return {id: oracle.get(id).tobytes() for id in oracle.ids()}


@pytest.fixture
def lance(tmp_path):
    factory = exact_factory(tmp_path, DIM)
    yield factory
    factory.destroy()


def test_kill_writer_mid_commit_leaves_acknowledged_writes_and_an_all_or_nothing_batch(lance):
    nemesis = KillWriter(lance.store, LanceVectorBackend)
    oracle = SimVectorBackend(DIM)
    acknowledged = [(f"ack{i}", row) for i, row in enumerate(random_matrix(1, 200, DIM))]
    lance.open().store_batch(acknowledged)
    oracle.store_batch(acknowledged)
    for trial in range(4):
        # A large batch that also overwrites acknowledged rows, so "absent" is checkable.
        batch = [(f"big{trial}_{i}", row) for i, row in enumerate(random_matrix(10 + trial, 40_000, DIM))]
        batch += [(f"ack{i}", row) for i, row in enumerate(random_matrix(20 + trial, 50, DIM))]
        before = oracle_content(oracle)
        try:
            nemesis.disturb(lance.open(), WriteCall("store_batch", (batch,)))
        except WriterKilled:
            pass
        else:
            oracle.store_batch(batch)
        nemesis.heal()
        after = content(lance.open())
        applied = SimVectorBackend(DIM)
        applied.store_batch([(id, np.frombuffer(row, np.float32)) for id, row in before.items()] + batch)
        assert after in (before, oracle_content(applied)), f"trial {trial}: neither all nor nothing"
        if after != before:
            oracle.store_batch(batch)
        assert after == oracle_content(oracle)
    assert nemesis.kills_after_files >= 1, f"no kill landed after the commit began writing files: {nemesis!r}"
    nemesis.stop()
    reopened = lance.open()
    reopened.store("after", random_matrix(30, 1, DIM)[0])
    assert reopened.count() == oracle.count() + 1


def test_kill_writer_lets_a_finished_write_stand(lance):
    # Seed 0 first draws a clock strike, at about 15 s: the small write finishes first.
    nemesis = KillWriter(lance.store, LanceVectorBackend, seed=0, expected_write=10.0)
    row = random_matrix(40, 1, DIM)[0]
    try:
        nemesis.disturb(lance.open(), WriteCall("store", ("small", row)))
    finally:
        nemesis.stop()
    assert nemesis.completed == 1 and nemesis.kills == 0
    assert lance.open().get("small").tobytes() == row.tobytes()


def stored_in_both(lance, *, seed: int, rows: int) -> SimVectorBackend:
    """``rows`` random records ``r0, r1, ...`` stored in the Lance store; an oracle holding them too."""
    oracle = SimVectorBackend(DIM)
    start = [(f"r{i}", row) for i, row in enumerate(random_matrix(seed, rows, DIM))]
    lance.open().store_batch(start)
    oracle.store_batch(start)
    return oracle


def test_competing_writer_races_commits_without_changing_content(lance):
    nemesis = lance.nemeses["competing_writer"]
    oracle = stored_in_both(lance, seed=50, rows=300)
    rng = np.random.default_rng(51)
    for step in range(12):
        ids = [f"r{i}" for i in rng.choice(300, 20, replace=False)]
        calls = [
            WriteCall("store_batch", (list(zip(ids, random_matrix(100 + step, 20, DIM))),)),
            WriteCall("store", (f"new{step}", random_matrix(200 + step, 1, DIM)[0])),
            WriteCall("delete", (ids[0],)),
        ]
        for call in calls:
            nemesis.disturb(lance.open(), call)
            call.apply(oracle)
        assert content(lance.open()) == oracle_content(oracle), f"step {step}"
    assert nemesis.competitor_commits > 0
    assert nemesis.conflicts > 0, f"the writers never collided: {nemesis!r}"


def test_competing_writer_helper_serves_one_store_after_another(tmp_path):
    # The helper outlives a test case: the next store is handed to the same process.
    helpers = []
    for n in range(2):
        factory = exact_factory(tmp_path / f"store{n}", DIM)
        try:
            nemesis = factory.nemeses["competing_writer"]
            row = random_matrix(60 + n, 1, DIM)[0]
            nemesis.disturb(factory.open(), WriteCall("store", (f"only{n}", row)))
            helpers.append(competitor_pid())
            assert content(factory.open()) == {f"only{n}": row.tobytes()}
            assert nemesis.competitor_commits > 0
        finally:
            factory.destroy()
    assert helpers[0] is not None and helpers[0] == helpers[1]


@pytest.mark.parametrize("k, copies", [(0, 1), (1, 2), (1, 2), (1, 2), (2, 1)])
def test_competing_writer_after_commits_is_the_same_interleaving_every_time(tmp_path, k, copies):
    # The original's upsert is a delete then an add: the competitor's turn between the two
    # (k=1) adds the row a second time, on every run; before the delete or after the add, not.
    factory = upstream.factory(tmp_path, DIM)
    try:
        row = random_matrix(70, 1, DIM)[0]
        factory.open().store("a", row)
        nemesis = factory.nemeses["competing_writer"]
        nemesis.strike(factory.open(), WriteCall("store", ("a", row)), CrashPoint(AFTER_COMMITS, k))
        assert factory.open().count() == copies
        assert nemesis.turns == 1 and nemesis.competitor_commits >= 2
    finally:
        factory.destroy()


def test_competing_writer_after_commits_changes_no_content_on_lance(lance):
    nemesis = lance.nemeses["competing_writer"]
    oracle = stored_in_both(lance, seed=80, rows=100)
    calls = [
        WriteCall("store_batch", ([(f"r{i}", row) for i, row in enumerate(random_matrix(81, 10, DIM))],)),
        WriteCall("store", ("new", random_matrix(82, 1, DIM)[0])),
        WriteCall("delete", ("r5",)),
    ]
    for k in (0, 1, 5):
        for call in calls:
            nemesis.strike(lance.open(), call, CrashPoint(AFTER_COMMITS, k))
            call.apply(oracle)
            assert content(lance.open()) == oracle_content(oracle), f"{call.method} at k={k}"
    assert nemesis.turns == 9
    # It runs the write twice, so it cannot strike a client in a concurrent history.
    assert placed_faults(lance) == ()
