"""Direct tests of the parts of LanceVectorBackend that are easy to get wrong."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from lancedb.index import HnswSq
from umi_dst.backends.lance.factory import approximate_factory, exact_factory
from umi_dst.backends.lance.store import (
    CommitConflict,
    CompactionPolicy,
    IndexPlan,
    LanceStore,
    LanceVectorBackend,
    RetryPolicy,
    vectors_of,
)
from umi_dst.backends.sim import SimVectorBackend

from umi_dst.contract import InvalidInput
from umi_dst.recipes import random_matrix

DIM = 8
AWKWARD_IDS = [
    "it's",
    "back\\slash",
    "\\'",
    "''",
    "%",
    "_",
    "a%b_c",
    "ünïcödé",
    "e\u0301",
    "\u00e9",
    "😀",
    "line\nbreak\ttab",
    " ",
    "x' OR '1'='1",
    "'; DROP TABLE vectors; --",
    '"double"',
    "`tick`",
    "x" * 256,
]


@pytest.fixture
def lance(tmp_path):
    factory = exact_factory(tmp_path, DIM)
    yield factory
    factory.destroy()


def test_awkward_ids_round_trip_and_match_only_themselves(lance):
    backend = lance.open()
    rows = random_matrix(1, len(AWKWARD_IDS), DIM)
    backend.store_batch(list(zip(AWKWARD_IDS, rows)))
    for id, row in zip(AWKWARD_IDS, rows):
        assert backend.exists(id)
        assert backend.get(id).tobytes() == row.tobytes()
    assert backend.delete("x' OR '1'='1") is True
    assert backend.count() == len(AWKWARD_IDS) - 1
    assert backend.delete("x' OR '1'='1") is False
    assert backend.get("e\u0301") is not None and backend.get("\u00e9") is not None


def test_get_is_a_bit_exact_float32_round_trip(lance):
    backend = lance.open()
    awkward = np.array([-0.0, 1e-45, -1.4e-45, 1e-38, 1e6, -1e6, 0.1, 1 / 3], dtype=np.float32)
    backend.store("v", awkward)
    assert lance.open().get("v").tobytes() == awkward.tobytes()


def test_upsert_replaces_without_duplicating(lance):
    backend = lance.open()
    first, second = random_matrix(2, 2, DIM)
    backend.store("a", first)
    backend.store("a", second)
    assert backend.count() == 1
    assert backend.run(backend.table.count_rows()) == 1
    assert backend.get("a").tobytes() == second.tobytes()


def test_batch_with_repeated_ids_keeps_the_last_in_one_commit(lance):
    backend = lance.open()
    backend.store("seed", random_matrix(3, 1, DIM)[0])
    version = backend.run(backend.table.version())
    rows = random_matrix(4, 4, DIM)
    backend.store_batch([("a", rows[0]), ("b", rows[1]), ("a", rows[2]), ("seed", rows[3])])
    assert backend.run(backend.table.version()) == version + 1
    assert backend.count() == 3
    assert backend.get("a").tobytes() == rows[2].tobytes()
    assert backend.get("seed").tobytes() == rows[3].tobytes()


def test_invalid_batch_changes_nothing_and_creates_nothing(tmp_path):
    backend = LanceVectorBackend(LanceStore(str(tmp_path), DIM))
    with pytest.raises(InvalidInput, match="batch item 1"):
        backend.store_batch([("ok", random_matrix(5, 1, DIM)[0]), ("bad", np.full(DIM, np.nan))])
    assert backend.table is None
    with pytest.raises(InvalidInput):
        backend.store("x\x00", random_matrix(5, 1, DIM)[0])
    assert backend.count() == 0


def test_a_delete_that_matches_nothing_commits_nothing(lance):
    backend = lance.open()
    backend.store("a", random_matrix(21, 1, DIM)[0])
    version = backend.run(backend.table.version())
    assert backend.delete("b") is False and backend.delete("A") is False
    assert backend.run(backend.table.version()) == version
    assert backend.delete("a") is True
    assert backend.run(backend.table.version()) == version + 1


@pytest.mark.parametrize("index", [None, IndexPlan()], ids=["exact", "approximate"])
def test_compaction_never_changes_a_result(tmp_path, index):
    """The same writes on a store compacted after every 4 commits and on one never compacted:
    every read agrees exactly (searches too where they are exact), and compaction really ran.
    (Once indexed, Lance folds each compaction's rows into an index delta and keeps indexed
    fragments apart, so an approximate table keeps one fragment per compaction.)"""
    compacted = LanceVectorBackend(LanceStore(str(tmp_path / "c"), DIM, index=index, compaction=CompactionPolicy(4)))
    plain = LanceVectorBackend(LanceStore(str(tmp_path / "p"), DIM, index=index, compaction=None))
    rows = random_matrix(22, 60, DIM)
    queries = random_matrix(23, 2, DIM)
    for step in range(20):
        for backend in (compacted, plain):
            if step % 5 == 3:
                assert backend.delete(f"r{step - 2}") is True
                assert backend.delete("missing") is False
            elif step % 5 == 4:
                backend.store_batch([(f"b{step}_{i}", rows[30 + i]) for i in range(8)] + [(f"r{step - 1}", rows[step])])
            else:
                backend.store(f"r{step}", rows[step])
        assert compacted.count() == plain.count()
        assert table_content(compacted) == table_content(plain)
        if index is None:
            for query in queries:
                assert compacted.search(query, 10) == plain.search(query, 10)
    for id in table_content(plain):
        assert compacted.get(id).tobytes() == plain.get(id).tobytes()
    fragments = [
        backend.run(backend.table.stats())["fragment_stats"]["num_fragments"] for backend in (compacted, plain)
    ]
    assert fragments[0] * 2 <= fragments[1], fragments


def table_content(backend: LanceVectorBackend) -> dict[str, bytes]:
    rows = backend.run(backend.table.to_arrow())
    return dict(zip(rows["id"].to_pylist(), (row.tobytes() for row in vectors_of(rows["embedding"], DIM))))


def test_compaction_policy_rejects_a_period_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        CompactionPolicy(0)


def test_store_whose_table_does_not_exist_reads_as_empty(tmp_path):
    backend = LanceVectorBackend(LanceStore(str(tmp_path), DIM))
    assert backend.table is None
    assert backend.count() == 0
    assert backend.get("a") is None
    assert backend.exists("a") is False
    assert backend.delete("a") is False
    assert backend.search(random_matrix(6, 1, DIM)[0], 5) == []
    assert backend.table is None


def test_fresh_and_emptied_tables_read_as_empty(lance):
    backend = lance.open()
    assert backend.run(backend.table.count_rows()) == 0 and backend.search(random_matrix(8, 1, DIM)[0], 3) == []
    backend.store("a", random_matrix(7, 1, DIM)[0])
    assert backend.delete("a") is True
    assert backend.count() == 0
    assert backend.search(random_matrix(8, 1, DIM)[0], 3) == []


def test_second_connection_sees_acknowledged_writes(lance):
    writer, reader = lance.open(), lance.open()
    rows = random_matrix(9, 3, DIM)
    writer.store("a", rows[0])
    assert reader.count() == 1  # the reader now holds the table open
    writer.store_batch([("b", rows[1]), ("c", rows[2])])
    writer.delete("a")
    assert reader.count() == 2
    assert reader.get("b").tobytes() == rows[1].tobytes()
    assert not reader.exists("a")


def test_concurrent_first_writes_to_a_fresh_store_all_stay(lance):
    """Racing creators of a table overwrite each other; the factory creates it up front."""
    writers = [lance.open() for _ in range(4)]
    rows = random_matrix(20, len(writers), DIM)
    start = threading.Barrier(len(writers))

    def first_write(k: int) -> None:
        start.wait()
        writers[k].store(f"w{k}", rows[k])

    threads = [threading.Thread(target=first_write, args=(k,)) for k in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader = lance.open()
    assert sorted(reader.run(reader.table.to_arrow())["id"].to_pylist()) == ["w0", "w1", "w2", "w3"]


def test_scores_are_cosine_similarity_in_order(lance):
    backend, oracle = lance.open(), SimVectorBackend(DIM)
    rows = (
        random_matrix(10, 50, DIM)
        * np.float32(1000) ** np.arange(-1, 2, dtype=np.float32).repeat([17, 17, 16])[:, None]
    )
    items = [(f"r{i}", row) for i, row in enumerate(rows)]
    backend.store_batch(items)
    oracle.store_batch(items)
    for query in random_matrix(11, 5, DIM):
        got = backend.search(query, 10)
        ids, scores = oracle.scores(query)
        truth = dict(zip(ids, scores))
        assert len(got) == 10
        assert all(abs(result.score - truth[result.id]) <= 1e-4 for result in got)
        assert [result.id for result in got] == [result.id for result in oracle.search(query, 10)]


def test_exact_search_bypasses_an_index_even_when_one_exists(lance):
    backend = lance.open()
    backend.store_batch([(f"r{i}", row) for i, row in enumerate(random_matrix(12, 300, DIM))])
    backend.run(backend.table.create_index("embedding", config=HnswSq(distance_type="cosine")))
    plan = backend.search_plan(random_matrix(13, 1, DIM)[0], 10)
    assert "KNNVectorDistance" in plan and "ANN" not in plan


def test_approximate_mode_indexes_and_still_finds_everything(tmp_path):
    factory = approximate_factory(tmp_path, DIM)
    backend, oracle = factory.open(), SimVectorBackend(DIM)
    plan = factory.store.index
    first = [(f"r{i}", row) for i, row in enumerate(random_matrix(14, plan.min_rows, DIM))]
    backend.store_batch(first)
    oracle.store_batch(first)
    assert [index.index_type for index in backend.run(backend.table.list_indices())] == ["IvfHnswSq"]
    assert "ANNSubIndex" in backend.search_plan(random_matrix(15, 1, DIM)[0], 5)
    late = [(f"late{i}", row) for i, row in enumerate(random_matrix(16, 5, DIM))]
    for id, row in late:
        backend.store(id, row)
        oracle.store(id, row)
    for id in ("r0", "r1", "r2"):
        assert backend.delete(id) and oracle.delete(id)
    for id, row in late:
        assert backend.search(row, 1)[0].id == id
    count = oracle.count()
    for limit in (1, 7, count, count + 10, 10_000):
        assert len(backend.search(random_matrix(17, 1, DIM)[0], limit)) == min(limit, count)
    assert factory.approximate and factory.recall_floor == IndexPlan().recall_floor
    factory.destroy()


def test_commit_conflicts_are_retried_then_raise_when_retries_run_out(tmp_path):
    """A connection that never refreshes compacts a table another writer has changed:
    every attempt conflicts, so the bounded retry must give up and say so."""
    fresh = LanceVectorBackend(LanceStore(str(tmp_path), DIM))
    fresh.store_batch([(f"r{i}", row) for i, row in enumerate(random_matrix(18, 4, DIM))])
    fresh.store("r4", random_matrix(19, 1, DIM)[0])
    policy = RetryPolicy(attempts=3, base_delay=0.001, seed=7)
    stale = LanceVectorBackend(LanceStore(str(tmp_path), DIM, retry=policy, read_consistency=None))
    assert stale.count() == 5
    fresh.delete("r0")
    with pytest.raises(CommitConflict, match="gave up after 3 commit attempts"):
        stale.optimize()
    assert stale.commit_retries == 2
    assert fresh.count() == 4


def test_versions_and_declarations(lance):
    assert set(lance.versions()) == {"lancedb", "pyarrow"}
    assert not lance.approximate and lance.recall_floor is None
    assert set(lance.nemeses) == {"competing_writer"}
    assert lance.data_dir == Path(lance.store.path)
    assert lance.store.read_consistency == timedelta(0)
