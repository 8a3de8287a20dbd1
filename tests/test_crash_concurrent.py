"""Crashes in concurrent histories: a server crash placed at a crash point of one client's
write, while other clients run. Calls it cuts off are indeterminate; an acknowledged write
must survive it; a planted bug that loses one is caught."""

from __future__ import annotations

import json

import pytest
from hypothesis import Phase, given, settings

from umi_dst import registry
from umi_dst.concurrency.clients import ClientPool
from umi_dst.concurrency.linearizability import NotLinearizable
from umi_dst.concurrency.parallel import ParallelProgram, ProgramShape, check_program, parallel_programs, run_parallel
from umi_dst.export.script import ExportError, export_file
from umi_dst.operations import Count, CrashPoint, Delete, Exists, Get, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.seedfiles import parallel_seeds, seeds
from umi_dst.seedfiles.seeds import MalformedSeed

DIM = 8
LOSES_ACKNOWLEDGED = "umi_dst.selftest.postgres_crash_mutants:unlogged_table"
CRASH_AFTER_COMMIT = CrashPoint("after_commit", 0)
# Client 0's store of 'a' is acknowledged, then the server crashes; client 1 runs meanwhile.
PROGRAM = ParallelProgram(
    (Step(Store("a", Random(1))),),
    (
        (Step(Store("a", Random(2)), "crash_server", CRASH_AFTER_COMMIT), Step(Get("a")), Step(Store("b", Random(3)))),
        (Step(Store("c", Random(4))), Step(Count()), Step(Delete("c")), Step(Get("a"))),
    ),
)
JSON_FILES = "umi_dst.selftest.json_files:{}"
# Client 0's process is killed once its store of 'a' was acknowledged; client 1 reads on (the
# JSON-file store takes one writer: its writers would replace each other's file).
KILLED_AFTER_ACK = ParallelProgram(
    (Step(Store("a", Random(1))),),
    (
        (
            Step(Store("b", Random(2))),
            Step(Store("a", Random(3)), "kill_client", CrashPoint("after_ack", 0)),
            Step(Count()),
        ),
        (Step(Count()), Step(Get("b")), Step(Exists("c"))),
    ),
)
UNCRASHED = ParallelProgram(PROGRAM.prefix, tuple(tuple(Step(step.op) for step in steps) for steps in PROGRAM.clients))


def test_an_acknowledged_write_survives_a_server_crash_in_a_concurrent_history(tmp_path):
    factory = registry.build("postgres", tmp_path, DIM)
    try:
        history = check_program(factory, PROGRAM)
    finally:
        factory.destroy()
    struck, after = history.calls[0], history.calls[1]
    assert struck.planned.at == CRASH_AFTER_COMMIT and struck.error is None, "the write returned before the crash"
    assert after.error is None and after.value.tobytes() == struck.args[1].tobytes(), "its client goes on, reconnected"
    assert all(call.error is None or call.cut_off for call in history.calls[1:]), "only the crash's victims may raise"


def test_a_write_struck_before_its_commit_is_judged_as_never_applied(tmp_path):
    before_commit = ParallelProgram(
        PROGRAM.prefix,
        (
            (Step(Store("a", Random(2)), "crash_server", CrashPoint("before_commit", 0)), Step(Get("a"))),
            PROGRAM.clients[1],
        ),
    )
    factory = registry.build("postgres", tmp_path, DIM)
    try:
        history = check_program(factory, before_commit)
    finally:
        factory.destroy()
    assert history.calls[0].never_applied and "where it cannot have taken effect" in history.describe(0)
    assert history.calls[1].value.tobytes() != history.calls[0].args[1].tobytes()


def test_writes_acknowledged_before_durable_are_caught_lost_across_a_crash_and_only_then(tmp_path):
    """An UNLOGGED table: every client sees every write at once, and a crash empties it."""
    factory = registry.build(LOSES_ACKNOWLEDGED, tmp_path, DIM)
    try:
        check_program(factory, UNCRASHED)
    finally:
        factory.destroy()
    factory = registry.build(LOSES_ACKNOWLEDGED, tmp_path, DIM)
    try:
        with pytest.raises(NotLinearizable) as caught:
            check_program(factory, PROGRAM)
    finally:
        factory.destroy()
    assert "get(id='a') -> None" in caught.value.message, "the acknowledged record is gone after the crash"


def test_a_client_process_killed_after_an_acknowledged_write_runs_nothing_more_and_the_write_stays(tmp_path):
    """The correct JSON-file store passes; one that keeps writes in memory until its connection
    closes is caught (the killed writer never closes it)."""
    with ClientPool() as pool:
        history = check_program(
            registry.build(JSON_FILES.format("correct"), tmp_path / "ok", DIM), KILLED_AFTER_ACK, "processes", pool
        )
        lossy = registry.build(JSON_FILES.format("acknowledges_before_durable"), tmp_path / "lossy", DIM)
        with pytest.raises(NotLinearizable):
            check_program(lossy, KILLED_AFTER_ACK, "processes", pool)
    killed = [call for call in history.calls if call.client == 0]
    assert [call.planned.fault for call in killed] == [None, "kill_client"], "the killed client runs nothing more"
    assert killed[1].error is None, "its write was acknowledged before the kill"


def test_a_client_killed_in_its_write_leaves_that_write_indeterminate(tmp_path):
    program = ParallelProgram(
        (), ((Step(Store("a", Random(3)), "kill_client", CrashPoint("in_write", 0)),), (Step(Count()),))
    )
    with ClientPool() as pool:
        history = check_program(registry.build(JSON_FILES.format("correct"), tmp_path, DIM), program, "processes", pool)
    assert history.calls[0].error == "client process killed in the write" and history.calls[0].indeterminate


OFFERED = (("crash_server", ("before_commit", "after_commit")), ("terminate_connection", ("before_statement",)))


@settings(max_examples=60, deadline=None)
@given(parallel_programs(DIM, ProgramShape(crashes=OFFERED)))
def test_a_generated_program_strikes_at_most_one_client_write_at_an_offered_point(program):
    struck = [step for steps in program.clients for step in steps if step.at is not None]
    assert len(struck) <= 1
    for step in struck:
        assert isinstance(step.op, (Store, StoreBatch, Delete)) and step.at.point in dict(OFFERED)[step.fault]


def _program_seed() -> parallel_seeds.ParallelSeed:
    """``PROGRAM`` as a parallel seed on PostgreSQL, with no failure recorded."""
    return parallel_seeds.ParallelSeed(
        backend="postgres",
        dim=DIM,
        clients_as="threads",
        prefix=list(PROGRAM.prefix),
        clients=[list(steps) for steps in PROGRAM.clients],
        failure={},
        versions={},
    )


def test_a_parallel_seed_keeps_its_crash_point_and_a_nemesis_needs_one(tmp_path):
    seed = _program_seed()
    path = seeds.write(seed, tmp_path)
    assert parallel_seeds.load(path).clients == seed.clients
    data = json.loads(path.read_text())
    del data["clients"][0][0]["at"]
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSeed, match=r"field clients\[0\]\[0\].at: .*'crash_server' has none"):
        parallel_seeds.load(path)


def test_a_nemesis_strikes_only_clients_run_as_threads_and_only_one_the_backend_offers(tmp_path):
    with pytest.raises(MalformedSeed, match="kill_client strikes only clients run as processes"):
        check_program(registry.build(JSON_FILES.format("correct"), tmp_path, DIM), KILLED_AFTER_ACK)
    sim = registry.build("umi_dst.selftest.concurrency_mutants:locked_sim", tmp_path, DIM)
    with pytest.raises(
        MalformedSeed, match=r"field clients\[0\]\[0\].fault: backend 'locked_sim' offers no fault 'crash_server'"
    ):
        check_program(sim, PROGRAM)
    factory = registry.build("postgres", tmp_path, DIM)
    try:
        with pytest.raises(
            MalformedSeed, match=r"field clients\[0\]\[0\].fault: crash_server strikes only clients run as threads"
        ):
            check_program(factory, PROGRAM, "processes")
    finally:
        factory.destroy()


@pytest.mark.slow
def test_generated_crashes_in_concurrent_histories_pass_on_postgres_and_catch_the_planted_loss(tmp_path, ci_settings):
    """About half the programs crash the server at a drawn point of a drawn client write."""
    budget = settings(ci_settings, max_examples=20)
    passed = run_parallel("postgres", dim=DIM, workdir=tmp_path, settings=budget, crashes=True)
    assert passed.passed, passed.failure
    search = settings(budget, max_examples=60, phases=[Phase.generate])  # shrinking crashes takes minutes
    found = run_parallel(LOSES_ACKNOWLEDGED, dim=DIM, workdir=tmp_path, settings=search, crashes=True)
    assert not found.passed and found.crashes > 0, "only a crash shows this bug"
    assert any(step.at is not None for steps in found.program.clients for step in steps), found.program


@pytest.mark.slow
def test_generated_kills_of_client_processes_pass_on_lance(tmp_path, ci_settings):
    """About half the programs SIGKILL one client process in or right after one of its writes."""
    result = run_parallel(
        "lance",
        dim=DIM,
        workdir=tmp_path,
        settings=settings(ci_settings, max_examples=15),
        clients_as="processes",
        crashes=True,
    )
    assert result.passed, result.failure
    assert result.crashes > 0


def test_a_crash_in_a_concurrent_history_is_refused_by_export_not_left_out(tmp_path):
    seed = _program_seed()
    with pytest.raises(
        ExportError, match="client 0: a crash_server in a concurrent history is not written as a script yet"
    ):
        export_file(seeds.write(seed, tmp_path))
