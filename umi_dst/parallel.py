"""The parallel mode: a sequential prefix, then 2 to 4 clients at once, checked for linearizability.

A ``ParallelProgram`` is plain data: a prefix of writes, run through the sequential
``Harness`` with all its checks, and one list of steps per client. Recipes that copy a stored
vector are made from the oracle's state after the prefix, so every client's arguments are fixed
before the clients start. Each client gets its own connection from ``factory.open()`` and runs
as a thread or, for stores that many processes write (Lance), as a process started with
``spawn``. Every call's invocation and completion go into a ``History``; a fresh connection then
reads back every touched id and the count (durability, and lost updates no reader saw). The
history must be linearizable against the Sim model; a valid call that raised with no fault
injected is a failure of its own (CONTRACT §4).

Ids come from a small per-program pool, so the clients collide on the same records.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import multiprocessing
import pickle
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from hypothesis import given
from hypothesis import settings as Settings
from hypothesis import strategies as st

from umi_dst import linearizability, parallel_seeds, registry, seeds, strategies
from umi_dst.checks import ContractViolation
from umi_dst.contract import BackendFactory, FactoryBuilder
from umi_dst.faults import INJECTED_FAULTS
from umi_dst.harness import Harness, describe
from umi_dst.history import Call, History, Planned, perform
from umi_dst.operations import Count, Delete, Exists, Get, Search, Step, Store, StoreBatch
from umi_dst.strategies import concrete_id, resolve

CLIENT_KINDS = parallel_seeds.CLIENT_KINDS
_SPAWN = multiprocessing.get_context("spawn")
_CLIENT_TIMEOUT = 300.0


@dataclass(frozen=True)
class ParallelProgram:
    prefix: tuple[Step, ...]
    clients: tuple[tuple[Step, ...], ...]

    def __str__(self) -> str:
        lines = [f"prefix: {describe(step)}" for step in self.prefix]
        for c, steps in enumerate(self.clients):
            lines += [f"client {c}: {describe(step)}" for step in steps]
        return "\n".join(lines)


@dataclass(frozen=True)
class ProgramShape:
    """How large generated programs are."""

    max_prefix: int = 5
    min_clients: int = 2
    max_clients: int = 4
    max_calls: int = 5
    """Calls per client."""
    max_keys: int = 4
    """Distinct ids a program uses: few, so clients meet on the same records."""
    faults: bool = True
    """Whether client writes may carry an injected fault (an indeterminate write)."""


# -- generating programs ---------------------------------------------------------------------
def parallel_programs(dim: int, shape: ProgramShape = ProgramShape()) -> st.SearchStrategy[ParallelProgram]:
    """A prefix of writes and 2-4 client step lists over a small pool of ids.

    Steps are drawn with ``Pick`` ids and recipes, then resolved against the program's id
    pool, so the strategies are built once rather than per program.
    """
    key = strategies.picks
    recipe = strategies.recipes(dim)
    writes = st.one_of(
        st.builds(Store, key, recipe),
        st.builds(Delete, key),
        st.builds(StoreBatch, st.lists(st.tuples(key, recipe), min_size=1, max_size=3).map(tuple)),
    )
    reads = st.one_of(
        st.builds(Get, key),
        st.builds(Exists, key),
        st.just(Count()),
        st.builds(Search, recipe, strategies.limits()),
    )
    faults = st.sampled_from((None, None, None, *INJECTED_FAULTS)) if shape.faults else st.none()
    client_step = st.one_of(reads.map(Step), st.builds(Step, writes, faults))
    return st.builds(
        _resolved_program,
        st.lists(strategies.ids, min_size=1, max_size=shape.max_keys, unique=True),
        st.lists(writes.map(Step), max_size=shape.max_prefix),
        st.lists(
            st.lists(client_step, min_size=1, max_size=shape.max_calls),
            min_size=shape.min_clients,
            max_size=shape.max_clients,
        ),
    )


def _resolved_program(keys: list[str], prefix: list[Step], clients: list[list[Step]]) -> ParallelProgram:
    def step(drawn: Step) -> Step:
        op = drawn.op
        if isinstance(op, Store):
            op = Store(concrete_id(op.id, keys), resolve(op.embedding, keys))
        elif isinstance(op, StoreBatch):
            op = StoreBatch(tuple((concrete_id(id, keys), resolve(r, keys)) for id, r in op.items))
        elif isinstance(op, Search):
            op = Search(resolve(op.query, keys), op.limit)
        elif isinstance(op, (Delete, Get, Exists)):
            op = type(op)(concrete_id(op.id, keys))
        return Step(op, drawn.fault)

    return ParallelProgram(tuple(map(step, prefix)), tuple(tuple(map(step, steps)) for steps in clients))


# -- running one program ---------------------------------------------------------------------
class UnexpectedError(ContractViolation):
    """A valid call raised while no fault was injected into it."""


def check_program(
    factory: BackendFactory, program: ParallelProgram, clients_as: str = "threads", pool: ClientPool | None = None
) -> History:
    """Run ``program`` on a fresh store and check it; raise ``ContractViolation`` on a failure."""
    history = run_program(factory, program, clients_as, pool)
    for index, call in enumerate(history.calls):
        if call.error is not None and call.planned.fault is None:
            raise UnexpectedError(
                f"a valid call raised with no fault injected, while other clients ran (CONTRACT §4):\n  "
                + history.describe(index),
                "success",
                call.error,
            )
    linearizability.check(history, atol=factory.score_atol, exact=not factory.approximate)
    return history


def run_program(
    factory: BackendFactory, program: ParallelProgram, clients_as: str = "threads", pool: ClientPool | None = None
) -> History:
    """The prefix through the sequential harness, then the clients at once, then read-back."""
    if clients_as not in CLIENT_KINDS:
        raise ValueError(f"clients_as must be one of {CLIENT_KINDS}, got {clients_as!r}")
    harness = Harness(factory)
    try:
        for step in program.prefix:
            harness.run(step)
        plans = [[plan(harness, step) for step in steps] for steps in program.clients]
        initial = {id: harness.oracle.get(id) for id in harness.oracle.ids()}
        if clients_as == "threads":
            calls = _run_threads(factory, plans)
        elif pool is not None:
            calls = pool.run(factory, plans)
        else:
            with ClientPool() as own_pool:
                calls = own_pool.run(factory, plans)
        harness.reopen()
        reader = len(plans)
        calls += [perform(reader, planned, harness.backend) for planned in _read_back(program, initial)]
    finally:
        harness.close()
    return History(factory.dim, initial, calls)


def plan(harness: Harness, step: Step) -> Planned:
    """Concrete arguments for a client step, made against the oracle's current state."""
    op = step.op
    if isinstance(op, (Store, StoreBatch, Delete)):
        call = harness.write_call(op)
        return Planned(op, call.method, call.args, step.fault)
    if step.fault is not None:
        raise ValueError(f"fault {step.fault!r} attached to {op.kind}, which is not a write")
    if isinstance(op, Search):
        return Planned(op, "search", (harness.embedding(op.query), op.limit))
    if isinstance(op, Count):
        return Planned(op, "count", ())
    if isinstance(op, (Get, Exists)):
        return Planned(op, op.kind, (op.id,))
    raise TypeError(f"the parallel mode does not run {op.kind} steps")


def _read_back(program: ParallelProgram, initial: dict) -> list[Planned]:
    """A count and a get of every id the prefix left or a client wrote."""
    written: set[str] = set(initial)
    for step in itertools.chain.from_iterable(program.clients):
        if isinstance(step.op, (Store, Delete)):
            written.add(step.op.id)
        elif isinstance(step.op, StoreBatch):
            written.update(id for id, _ in step.op.items)
    return [Planned(Count(), "count", ())] + [Planned(Get(id), "get", (id,)) for id in sorted(written)]


def _run_threads(factory: BackendFactory, plans: list[list[Planned]]) -> list[Call]:
    connections = [factory.open() for _ in plans]
    start = threading.Barrier(len(plans))
    recorded: list[list[Call]] = [[] for _ in plans]

    def client(index: int) -> None:
        start.wait()
        recorded[index] = [perform(index, planned, connections[index]) for planned in plans[index]]

    threads = [threading.Thread(target=client, args=(i,), name=f"umi-client-{i}") for i in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for connection in connections:
        with contextlib.suppress(Exception):
            connection.close()
    return list(itertools.chain.from_iterable(recorded))


class ClientPool:
    """Client processes started with ``spawn`` once and reused for every program.

    Each program's factory is sent to them (without its nemeses), so a factory must pickle and
    reach the same store from another process, as Lance's does (a directory path).
    """

    def __init__(self) -> None:
        self._workers: list[tuple[multiprocessing.Process, Connection]] = []

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run(self, factory: BackendFactory, plans: list[list[Planned]]) -> list[Call]:
        portable = _portable(factory)
        while len(self._workers) < len(plans):
            here, there = _SPAWN.Pipe()
            process = _SPAWN.Process(target=_client_main, args=(there,), daemon=True, name="umi-client")
            process.start()
            there.close()
            self._workers.append((process, here))
        workers = self._workers[: len(plans)]
        for index, ((_, conn), planned) in enumerate(zip(workers, plans)):
            conn.send((portable, index, planned))
        for _, conn in workers:
            self._expect(conn, "ready")
        for _, conn in workers:
            conn.send("go")
        return list(itertools.chain.from_iterable(self._expect(conn, "done") for _, conn in workers))

    def _expect(self, conn: Connection, kind: str) -> object:
        if not conn.poll(_CLIENT_TIMEOUT):
            raise TimeoutError(f"client process sent no {kind!r} within {_CLIENT_TIMEOUT}s")
        got, payload = conn.recv()
        if got != kind:
            raise RuntimeError(f"client process sent {got!r} ({payload}), expected {kind!r}")
        return payload

    def close(self) -> None:
        for process, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._workers.clear()


def _portable(factory: BackendFactory) -> bytes:
    clone = copy.copy(factory)
    clone.nemeses = {}
    try:
        return pickle.dumps(clone)
    except Exception as exc:
        raise ValueError(
            f"backend {factory.name!r}: its factory cannot be sent to a client process ({exc}); "
            "run its clients as threads"
        ) from None


def _client_main(conn: Connection) -> None:
    """A spawned client: for each program, open a connection, wait for 'go', run, report."""
    while (job := conn.recv()) is not None:
        portable, index, plans = job
        try:
            backend = pickle.loads(portable).open()
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ready", None))
        conn.recv()
        calls = [perform(index, planned, backend) for planned in plans]
        with contextlib.suppress(Exception):
            backend.close()
        conn.send(("done", calls))


# -- searching for failures and replaying them ------------------------------------------------
@dataclass
class ParallelResult:
    backend: str
    clients_as: str
    runs: int
    """Concurrent runs made (each a fresh store), shrinking included."""
    seconds: float
    passed: bool
    overlapping: int
    """Calls of passing runs that overlapped a call of another client (the races that were checked)."""
    failure: str = ""
    program: ParallelProgram | None = None
    seed_path: Path | None = None


def run_parallel(
    backend: str | FactoryBuilder,
    *,
    dim: int,
    workdir: Path,
    settings: Settings | None = None,
    clients_as: str = "threads",
    shape: ProgramShape = ProgramShape(),
    attempts: int = 1,
    seeds_dir: Path | None = None,
) -> ParallelResult:
    """Generate parallel programs against ``backend`` under Hypothesis (the active profile
    unless ``settings``); return the last failing program shrunk, saved as a seed if asked.

    Each program runs up to ``attempts`` times (a fresh store each) until one run fails: a
    race that shows only sometimes then survives shrinking more often.
    """
    builder = registry.resolve(backend) if isinstance(backend, str) else backend
    spec = backend if isinstance(backend, str) else f"{builder.__module__}:{builder.__name__}"
    stores = itertools.count()
    failures: list[tuple[ParallelProgram, BaseException]] = []
    overlapping: list[int] = []
    versions: dict[str, str] = {}
    started = time.perf_counter()

    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ClientPool()) if clients_as == "processes" else None

        @given(parallel_programs(dim, shape))
        def example(program: ParallelProgram) -> None:
            for _ in range(attempts):
                factory = builder(workdir / f"parallel-{next(stores)}", dim)
                try:
                    if not versions:
                        versions.update(getattr(factory, "versions", dict)())
                    overlapping.append(check_program(factory, program, clients_as, pool).overlapping())
                except ContractViolation as error:
                    failures.append((program, error))
                    raise
                finally:
                    factory.destroy()

        test = settings(example) if settings is not None else example
        try:
            test()
        except Exception:  # a finding, or Hypothesis reporting that it did not always recur
            if not failures:
                raise
    runs = next(stores)
    seconds = time.perf_counter() - started
    if not failures:
        return ParallelResult(spec, clients_as, runs, seconds, True, sum(overlapping))
    program, error = failures[-1]
    result = ParallelResult(spec, clients_as, runs, seconds, False, sum(overlapping), str(error), program)
    if seeds_dir is not None:
        seed = parallel_seeds.ParallelSeed(
            backend=spec,
            dim=dim,
            clients_as=clients_as,
            prefix=list(program.prefix),
            clients=[list(steps) for steps in program.clients],
            failure=seeds.failure_record(error, None),
            versions=seeds.software_versions(versions),
            description=str(error).splitlines()[0],
        )
        result.seed_path = seeds.write(seed, seeds_dir)
    return result


@dataclass
class ParallelReplay:
    backend: str
    runs: int
    failures: list[str]
    """The failure message of every run that failed."""

    @property
    def reproduced(self) -> bool:
        return bool(self.failures)

    def summary(self) -> str:
        if not self.failures:
            return (
                f"PASS on {self.backend}: no failure in {self.runs} concurrent runs "
                "(a race need not come back every time)"
            )
        return (
            f"FAIL on {self.backend} in {len(self.failures)} of {self.runs} concurrent runs; "
            f"first: {self.failures[0]}"
        )


def replay_parallel(
    seed: parallel_seeds.ParallelSeed,
    backend: str | None = None,
    runs: int = 10,
    workdir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ParallelReplay:
    """Run a parallel seed's program ``runs`` times, each on a fresh store; count the failures."""
    spec = backend or seed.backend
    program = ParallelProgram(tuple(seed.prefix), tuple(tuple(steps) for steps in seed.clients))
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="umi-replay-", dir=workdir) as scratch, contextlib.ExitStack() as stack:
        pool = stack.enter_context(ClientPool()) if seed.clients_as == "processes" else None
        for run in range(runs):
            factory = registry.build(spec, Path(scratch) / f"run-{run}", seed.dim)
            try:
                check_program(factory, program, seed.clients_as, pool)
                outcome = "pass"
            except ContractViolation as error:
                failures.append(str(error))
                outcome = f"FAIL: {str(error).splitlines()[0]}"
            finally:
                factory.destroy()
            if log:
                log(f"run {run + 1}/{runs}: {outcome}")
    return ParallelReplay(spec, runs, failures)
