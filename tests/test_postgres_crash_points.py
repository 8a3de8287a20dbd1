"""PostgreSQL faults at named points of a write: each point has one exact outcome, and the planted
crash bugs (an acknowledged write not yet durable, a batch committed in pieces) are caught."""

from __future__ import annotations

import pytest
from umi_dst.backends.postgres.crash_points import (
    AFTER_COMMIT,
    AFTER_STATEMENTS,
    BEFORE_COMMIT,
    BEFORE_STATEMENT,
    EXPECTED,
    IN_STATEMENT,
    MID_COPY,
    _row_offset,
)
from umi_dst.backends.postgres.factory import exact_factory
from umi_dst.backends.postgres.store import COPY_MIN_ROWS, binary_copy_chunks

from umi_dst import registry
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.harness import Harness
from umi_dst.operations import Bulk, CrashPoint, Delete, Get, Reopen, Step, Store, StoreBatch
from umi_dst.recipes import Random, random_matrix

DIM = 8
# A batch over stored ids, large enough to go by COPY (through the staging table).
BATCH = StoreBatch((("kept", Random(3)),), Bulk(seed=4, count=COPY_MIN_ROWS + 20, distinct=COPY_MIN_ROWS + 10))
WRITES = [Step(BATCH), Step(Store("kept", Random(5))), Step(Delete("kept"))]


def oracle_state(harness: Harness) -> tuple[int, bytes | None]:
    kept = harness.oracle.get("kept")
    return harness.oracle.count(), None if kept is None else kept.tobytes()


@pytest.fixture
def harness(tmp_path):
    factory = exact_factory(tmp_path, DIM)
    made = Harness(factory)
    made.run(Step(StoreBatch((("kept", Random(1)),), Bulk(seed=4, count=COPY_MIN_ROWS, distinct=COPY_MIN_ROWS))))
    yield made
    made.close()
    factory.destroy()


@pytest.mark.parametrize(
    ("fault", "writes"),
    [
        ("terminate_connection", WRITES),
        ("crash_server", WRITES[:1]),
        pytest.param("crash_server", WRITES, marks=pytest.mark.slow),
    ],
    ids=["terminate_connection", "crash_server-copy-batch", "crash_server-every-write"],
)
def test_every_write_at_every_point_leaves_exactly_the_expected_state(harness, fault, writes):
    seen = []
    harness.log = seen.append
    for point in (BEFORE_STATEMENT, BEFORE_COMMIT, MID_COPY, AFTER_COMMIT):
        for step in writes:
            before = oracle_state(harness)
            harness.run(Step(step.op, fault, CrashPoint(point, 7)))
            changed = oracle_state(harness) != before
            assert changed == (EXPECTED[point] == "new"), f"{step.op.kind} at {point}"
            if isinstance(step.op, Delete):  # put it back for the next point
                harness.run(Step(Store("kept", Random(1))))
    harness.finish()
    assert any(f"at {MID_COPY}" in line and "raised" in line for line in seen), "the COPY was cut off"


def test_a_statement_timeout_cancels_the_write_in_its_statement(harness):
    harness.run(Step(Store("new", Random(9)), "statement_timeout", CrashPoint(IN_STATEMENT, 0)))
    assert harness.oracle.get("new") is None
    with pytest.raises(ContractViolation, match="no crash point"):
        harness.run(Step(Store("new", Random(9)), "statement_timeout", CrashPoint(AFTER_COMMIT, 0)))


def test_a_copy_is_cut_after_exactly_k_rows():
    rows = list(zip([f"r{i}" for i in range(5)], random_matrix(0, 5, DIM)))
    data = b"".join(binary_copy_chunks(rows, DIM))
    single = b"".join(binary_copy_chunks(rows[:2], DIM))
    assert _row_offset(data, 2) == len(single) - 2, "two rows and the header, without the trailer"
    assert _row_offset(data, 99) == len(data) - 2


MUTANTS = "umi_dst.selftest.postgres_crash_mutants:{}"
SMALL_BATCH = StoreBatch((("kept", Random(3)), ("b", Random(4)), ("c", Random(5))))


def crash_once(spec: str, tmp_path, step: Step) -> str:
    """On a fresh store holding 'kept': run ``step`` and the final checks; the verdict."""
    factory = registry.build(spec, tmp_path, DIM)
    made = Harness(factory)
    try:
        made.run(Step(StoreBatch((("kept", Random(1)),))))
        made.run(step)
        made.finish()
        return f"pass ({made.fault_outcome} state)"
    except ContractViolation as violation:
        return str(violation)
    finally:
        made.close()
        factory.destroy()


@pytest.mark.parametrize(
    ("mutant", "step", "caught"),
    [
        (
            "unlogged_table",
            Step(Store("new", Random(7)), "crash_server", CrashPoint(AFTER_COMMIT, 0)),
            "store under crash_server at after_commit (k=0) returned, yet a fresh connection reads the old state",
        ),
        (
            "commits_on_next_call",
            Step(Store("kept", Random(7)), "crash_server", CrashPoint(AFTER_COMMIT, 0)),
            "store under crash_server at after_commit (k=0) returned, yet a fresh connection reads the old state",
        ),
        (
            "commits_each_row",
            Step(SMALL_BATCH, "crash_server", CrashPoint(AFTER_STATEMENTS, 1)),
            "store_batch under crash_server at after_statements (k=1) left a state that is neither all-old nor all-new: 2 ids old, 1 new",
        ),
    ],
    ids=["acknowledged-before-durable", "acknowledged-before-committed", "partial-batch-after-reopen"],
)
def test_planted_crash_bug_is_caught_by_its_crash_point(mutant, step, caught, tmp_path):
    assert caught in crash_once(MUTANTS.format(mutant), tmp_path, step)


def test_planted_crash_bugs_pass_while_nothing_crashes(tmp_path):
    for mutant in ("unlogged_table", "commits_on_next_call", "commits_each_row"):
        factory = registry.build(MUTANTS.format(mutant), tmp_path, DIM)
        made = Harness(factory)
        try:
            for step in (
                Step(SMALL_BATCH),
                Step(Store("d", Random(6))),
                Step(Reopen()),
                Step(Delete("b")),
                Step(Get("c")),
            ):
                made.run(step)
            made.finish()
        finally:
            made.close()
            factory.destroy()


def test_after_statements_strikes_inside_the_backends_own_transactions(tmp_path):
    """A single upsert commits by itself (new once it returned); a batch is one transaction
    (old until its commit): k counts the statements, wherever the backend's commits fall."""
    assert (
        crash_once(
            "postgres", tmp_path, Step(Store("kept", Random(7)), "crash_server", CrashPoint(AFTER_STATEMENTS, 1))
        )
        == "pass (new state)"
    )
    assert (
        crash_once("postgres", tmp_path, Step(SMALL_BATCH, "crash_server", CrashPoint(AFTER_STATEMENTS, 1)))
        == "pass (old state)"
    )
