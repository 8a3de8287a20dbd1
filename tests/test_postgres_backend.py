"""PostgresVectorBackend against the contract, on the real server, compared with the oracle."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql
from umi_dst.backends.postgres.factory import approximate_factory, exact_factory
from umi_dst.backends.postgres.store import COPY_MIN_ROWS
from umi_dst.backends.sim import SimVectorBackend

from umi_dst.contract import InvalidInput
from umi_dst.recipes import random_matrix

TRICKY_IDS = [
    "it's",
    'say "hi"',
    "back\\slash\\",
    "100%_done",
    "%",
    "_",
    "line\nbreak\ttab",
    "SELECT 1; DROP TABLE vectors; --",
    "caf\u00e9",
    "cafe\u0301",
    "\U0001f600 emoji",
    " ",
    "x" * 256,
    "$1",
    "{}",
]


@pytest.fixture(params=[exact_factory, approximate_factory], ids=["exact", "approx"])
def factory(request, tmp_path):
    made = request.param(tmp_path, 8)
    yield made
    made.destroy()


@pytest.fixture
def backend(factory):
    opened = factory.open()
    yield opened
    opened.close()


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_tricky_ids_are_data(backend):
    rows = random_matrix(1, len(TRICKY_IDS), 8)
    for id, vector in zip(TRICKY_IDS, rows):
        backend.store(id, vector)
    assert backend.count() == len(TRICKY_IDS)
    for id, vector in zip(TRICKY_IDS, rows):
        assert backend.exists(id) and same_bits(backend.get(id), vector)
    found = {result.id for result in backend.search(rows[0], len(TRICKY_IDS))}
    assert found == set(TRICKY_IDS)
    assert not backend.exists("caf") and not backend.exists("%_done")
    assert backend.delete("cafe\u0301") and backend.exists("caf\u00e9"), (
        "composed and decomposed forms are distinct ids"
    )


@pytest.mark.parametrize("dim", [8, 1536])
def test_get_is_a_bit_exact_float32_round_trip(tmp_path, dim):
    factory = exact_factory(tmp_path, dim)
    backend = factory.open()
    try:
        special = np.zeros(dim, dtype=np.float32)
        special[:6] = [1e-45, -0.0, 1e6, -1e6, 0.1, 1 / 3]
        rows = np.vstack([random_matrix(2, 3, dim), special])
        for index, vector in enumerate(rows[:2]):
            backend.store(f"one-{index}", vector)
        backend.store_batch([(f"many-{index}", vector) for index, vector in enumerate(rows)])
        assert same_bits(backend.get("one-1"), rows[1])
        for index, vector in enumerate(rows):
            assert same_bits(backend.get(f"many-{index}"), vector)
    finally:
        backend.close()
        factory.destroy()


def test_store_upserts(backend):
    first, second = random_matrix(3, 2, 8)
    backend.store("a", first)
    backend.store("a", second)
    assert backend.count() == 1 and same_bits(backend.get("a"), second)


@pytest.mark.parametrize("size", [10, COPY_MIN_ROWS * 3], ids=["statements", "copy"])
def test_batch_with_repeated_ids_keeps_the_last(backend, size):
    rows = random_matrix(4, size, 8)
    items = [(f"id-{index % (size // 2)}", vector) for index, vector in enumerate(rows)]
    backend.store_batch(items)
    assert backend.count() == size // 2
    for index in (0, size // 2 - 1):
        assert same_bits(backend.get(f"id-{index}"), rows[index + size // 2])


def staging_exists(backend) -> bool:
    return backend.connection.execute("SELECT to_regclass('pg_temp.umi_dst_staging') IS NOT NULL").fetchone()[0]


def test_large_batches_copy_straight_in_or_upsert_through_staging(backend):
    size = COPY_MIN_ROWS * 2
    fresh, updates = random_matrix(5, size, 8), random_matrix(6, size, 8)
    backend.store_batch([(f"id-{index}", vector) for index, vector in enumerate(fresh)])
    assert backend.count() == size
    assert not staging_exists(backend), "new ids only: COPY goes straight into the table"
    overlapping = [(f"id-{index + size // 2}", vector) for index, vector in enumerate(updates)]
    backend.store_batch(overlapping)
    assert staging_exists(backend), "existing ids: COPY into a staging table, then one upsert"
    assert backend.count() == size + size // 2
    assert same_bits(backend.get("id-0"), fresh[0])
    assert same_bits(backend.get(f"id-{size // 2}"), updates[0])
    assert same_bits(backend.get(f"id-{size + size // 2 - 1}"), updates[-1])


@pytest.mark.parametrize("size", [5, COPY_MIN_ROWS * 2], ids=["statements", "copy"])
def test_invalid_batch_item_changes_nothing(backend, size):
    backend.store("kept", random_matrix(7, 1, 8)[0])
    items = [(f"id-{index}", vector) for index, vector in enumerate(random_matrix(8, size, 8))]
    items[-1] = ("bad", np.full(8, np.nan))
    with pytest.raises(InvalidInput, match=f"batch item {size - 1}"):
        backend.store_batch(items)
    with pytest.raises(InvalidInput):
        backend.store_batch([("ok", random_matrix(9, 1, 8)[0]), ("nul\x00id", random_matrix(9, 1, 8)[0])])
    backend.store_batch([])
    assert backend.count() == 1


def test_delete_reports_whether_the_id_existed(backend):
    backend.store("a", random_matrix(10, 1, 8)[0])
    assert backend.delete("a") is True
    assert backend.delete("a") is False
    assert backend.get("a") is None and backend.count() == 0


def test_writes_are_seen_by_a_new_connection_and_stores_are_isolated(factory, tmp_path):
    writer = factory.open()
    writer.store("a", random_matrix(11, 1, 8)[0])
    writer.close()
    writer.close()
    reader = factory.open()
    other = exact_factory(tmp_path, 8)
    try:
        assert reader.exists("a") and reader.count() == 1
        assert other.open().count() == 0
    finally:
        reader.close()
        other.destroy()


def test_exact_search_matches_the_oracle(tmp_path):
    factory = exact_factory(tmp_path, 32)
    backend, oracle = factory.open(), SimVectorBackend(32)
    try:
        rows = random_matrix(12, 400, 32)
        items = [(f"id-{index}", vector) for index, vector in enumerate(rows)]
        backend.store_batch(items)
        oracle.store_batch(items)
        for query in random_matrix(13, 5, 32):
            found, expected = backend.search(query, 25), oracle.search(query, 25)
            assert [result.id for result in found] == [result.id for result in expected]
            assert np.allclose([r.score for r in found], [r.score for r in expected], atol=factory.score_atol, rtol=0)
    finally:
        backend.close()
        factory.destroy()


def plan_of_searches(backend) -> str:
    """The plan of the next search, read from the server's log of plans (auto_explain)."""
    backend.connection.execute("LOAD 'auto_explain'")
    backend.connection.execute("SET auto_explain.log_min_duration = 0")
    backend.connection.execute("SET auto_explain.log_nested_statements = on")
    notices = []
    backend.connection.add_notice_handler(lambda notice: notices.append(notice.message_primary))
    backend.connection.execute("SET client_min_messages = log")
    backend.search(random_matrix(14, 1, 8)[0], 10)
    return "\n".join(notices)


def test_exact_mode_scans_and_approximate_mode_uses_hnsw(tmp_path):
    exact, approx = exact_factory(tmp_path, 8), approximate_factory(tmp_path, 8)
    try:
        for factory, expected, absent in (
            (exact, "Seq Scan", "Index Scan"),
            (approx, "Index Scan using vectors_embedding_idx", "Seq Scan"),
        ):
            backend = factory.open()
            backend.store_batch([(f"id-{index}", vector) for index, vector in enumerate(random_matrix(15, 500, 8))])
            searched = plan_of_searches(backend)
            assert expected in searched and absent not in searched, searched
            backend.close()
    finally:
        exact.destroy()
        approx.destroy()


def test_approximate_search_returns_min_of_limit_and_count_beyond_ef_search_in_order(tmp_path):
    """Past ``ef_search`` the relaxed iterative scan hands rows out of order (clearly so at a
    high dimension, where random vectors are all about equally far): they must be re-sorted."""
    dim = 1536
    factory = approximate_factory(tmp_path, dim)
    factory.ef_search = ef_search = 40  # pgvector's default, so the 300 rows reach far past it
    backend = factory.open()
    try:
        rows = random_matrix(16, 450, dim)
        backend.store_batch([(f"id-{index}", vector) for index, vector in enumerate(rows)])
        for index in range(0, 450, 3):
            backend.delete(f"id-{index}")
        for query, limit in ((1, ef_search + 1), (2, 5 * ef_search), (4, 5 * ef_search), (5, 10_000)):
            results = backend.search(rows[query], limit)
            scores = [result.score for result in results]
            assert len(results) == min(limit, 300)
            assert len({result.id for result in results}) == len(results)
            assert scores == sorted(scores, reverse=True)
            assert results[0].id == f"id-{query}" and results[0].score == pytest.approx(1.0, abs=1e-6)
    finally:
        backend.close()
        factory.destroy()


def test_large_batch_racing_a_competing_insert_still_upserts_everything(factory):
    """The bulk path finds no existing id, but another session commits one before the COPY ends."""
    backend = factory.open()
    rival = factory.server.connect()
    register_vector(rival)
    try:
        rows = random_matrix(17, COPY_MIN_ROWS, 8)
        rival.execute(
            sql.SQL("INSERT INTO {} VALUES ('id-5', %b)").format(factory.table), (random_matrix(18, 1, 8)[0],)
        )
        batch = threading.Thread(target=backend.store_batch, args=([(f"id-{i}", v) for i, v in enumerate(rows)],))
        batch.start()
        waiting = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)"
        while batch.is_alive() and not rival.execute(waiting, (backend.connection.info.backend_pid,)).fetchone()[0]:
            time.sleep(0.001)
        rival.commit()
        batch.join(30)
        assert staging_exists(backend), "the COPY met the rival's id and fell back to the staging upsert"
        assert backend.count() == COPY_MIN_ROWS and same_bits(backend.get("id-5"), rows[5])
    finally:
        rival.close()
        backend.close()


@pytest.mark.parametrize("size", [20, COPY_MIN_ROWS], ids=["statements", "copy"])
def test_concurrent_batches_over_the_same_ids_do_not_deadlock(factory, size):
    """Two writers upsert the same ids in opposite orders; row locks are taken in one order."""
    rows = random_matrix(19, size, 8)
    items = [(f"id-{index}", vector) for index, vector in enumerate(rows)]
    writers = [factory.open(), factory.open()]
    errors = []

    def write(backend, batch):
        try:
            for _ in range(8):
                backend.store_batch(batch)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w, b)) for w, b in zip(writers, (items, items[::-1]))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert writers[0].count() == size
    finally:
        for writer in writers:
            writer.close()
