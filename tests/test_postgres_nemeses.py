"""Each postgres nemesis, driven for real against a write, judged against the oracle.

After the fault the store must hold exactly the state before the write or exactly the state
after it (never a part of a batch), and every write acknowledged before it must still be there.
"""

from __future__ import annotations

import numpy as np
import pytest
from psycopg import sql
from umi_dst.backends.postgres.factory import exact_factory
from umi_dst.backends.postgres.store import COPY_MIN_ROWS
from umi_dst.backends.sim import SimVectorBackend

from umi_dst.contract import WriteCall
from umi_dst.recipes import random_matrix

DIM = 8
STORED = 2 * COPY_MIN_ROWS


def initial_items() -> list[tuple[str, np.ndarray]]:
    return [(f"id-{index}", vector) for index, vector in enumerate(random_matrix(1, STORED, DIM))]


WRITES = {
    "store": WriteCall("store", ("id-3", random_matrix(2, 1, DIM)[0])),
    "delete": WriteCall("delete", ("id-4",)),
    "batch": WriteCall(
        "store_batch",
        (
            [
                ("id-1", random_matrix(3, 1, DIM)[0]),
                ("new", random_matrix(4, 1, DIM)[0]),
                ("id-1", random_matrix(5, 1, DIM)[0]),
            ],
        ),
    ),
    "copy_batch": WriteCall(
        "store_batch",
        ([(f"id-{index + STORED // 2}", vector) for index, vector in enumerate(random_matrix(6, STORED, DIM))],),
    ),
}


def state(backend) -> dict[str, bytes]:
    query = sql.SQL("SELECT id, embedding FROM {}").format(backend.table)
    return {id: vector.to_numpy().tobytes() for id, vector in backend.connection.execute(query, binary=True)}


def oracle_state(items, call: WriteCall | None) -> dict[str, bytes]:
    oracle = SimVectorBackend(DIM)
    oracle.store_batch(items)
    if call is not None:
        call.apply(oracle)
    return {id: oracle.get(id).tobytes() for id in oracle.ids()}


@pytest.fixture
def factory(tmp_path):
    made = exact_factory(tmp_path, DIM)
    yield made
    made.destroy()


def disturb(factory, nemesis_name: str, call: WriteCall) -> tuple[BaseException | None, dict[str, bytes]]:
    """Store the initial items (acknowledged), run ``call`` under the nemesis, read back fresh."""
    backend = factory.open()
    backend.store_batch(initial_items())
    nemesis = factory.nemeses[nemesis_name]
    raised = None
    try:
        nemesis.disturb(backend, call)
    except Exception as exc:
        raised = exc
    finally:
        nemesis.heal()
        try:
            backend.close()
        except Exception:
            pass
    fresh = factory.open()
    try:
        return raised, state(fresh)
    finally:
        fresh.close()


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("nemesis", ["terminate_connection", "statement_timeout"])
def test_interrupted_write_fails_and_leaves_the_old_state(factory, nemesis, write):
    raised, found = disturb(factory, nemesis, WRITES[write])
    assert raised is not None, f"{nemesis} should interrupt the {write} in flight"
    assert found == oracle_state(initial_items(), None)


@pytest.mark.parametrize("write", WRITES)
def test_crash_keeps_acknowledged_writes_and_applies_the_write_whole_or_not_at_all(factory, write):
    raised, found = disturb(factory, "crash_server", WRITES[write])
    before, after = oracle_state(initial_items(), None), oracle_state(initial_items(), WRITES[write])
    if raised is None:
        assert found == after, "a write that returned before the crash must survive recovery"
    else:
        assert found in (before, after), "an interrupted write is all there or all absent"


def test_new_connection_works_after_each_nemesis(factory):
    for name in sorted(factory.nemeses):
        disturb(factory, name, WRITES["store"])
    backend = factory.open()
    try:
        backend.store("after", random_matrix(7, 1, DIM)[0])
        assert backend.exists("after")
    finally:
        backend.close()
