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

A program may also crash the store in the middle of the concurrent part: one client write
carries a nemesis placed at a crash point (``crash_server`` before the statement, before the
commit, after k rows of a ``COPY``, after the commit), so the fault lands at the same place in
the write on every run. A fault that takes every connection down (its nemesis declares
``cuts_off_other_connections``) makes the calls other clients had in flight raise: those are
*cut off*, indeterminate like the struck write itself (it took effect at some moment after its
invocation, or never), and each client goes on with a fresh connection once the store is back.
With clients run as processes (an embedded store such as Lance, where a crash is a writer's
process dying), the mode's own fault ``kill_client`` SIGKILLs one client's process at a point
of one of its writes: ``after_ack`` (the write returned and was recorded: exact) or
``in_write`` (k ms into the write, or right after it if it ended sooner: a moment, not a place
in the write, since file operations of concurrent writers cannot be told apart). The killed
client runs no further steps. The read-back then shows whether every acknowledged write survived.

Ids come from a small per-program pool, so the clients collide on the same records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given
from hypothesis import settings as Settings
from hypothesis import strategies as st

from umi_dst import registry
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.faults import INJECTED_FAULTS
from umi_dst.checking.harness import Harness, describe
from umi_dst.concurrency import linearizability
from umi_dst.concurrency.clients import KILL_CLIENT, KILL_POINTS, ClientPool, run_threads
from umi_dst.concurrency.history import History, Planned, perform
from umi_dst.contract import BackendFactory, FactoryBuilder, declared_maintenance
from umi_dst.generation import strategies
from umi_dst.generation.determinism import seed_only_generation
from umi_dst.generation.strategies import concrete_id, resolve
from umi_dst.operations import Count, CrashPoint, Delete, Exists, Get, Maintain, Search, Step, Store, StoreBatch, Write
from umi_dst.seedfiles import history_codec, parallel_seeds, seeds

CLIENT_KINDS = parallel_seeds.CLIENT_KINDS
LARGEST_DRAWN_CRASH_K = 8
"""Largest count drawn for a crash point (rows of a ``COPY`` sent before the fault, ms into a write)."""


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
    crashes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Placed nemeses, each with its crash points, that may strike one client write of a
    program (see ``placed_faults``); none by default."""
    maintenance: tuple[str, ...] = ()
    """Maintenance operations a client step may run while the others read and write (the
    factory's ``concurrent_maintenance``); none by default."""


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
    if shape.maintenance:  # a branch of its own, so programs without maintenance are drawn as before
        client_step = st.one_of(client_step, st.builds(Maintain, st.sampled_from(shape.maintenance)).map(Step))
    return st.builds(
        _resolved_program,
        st.lists(strategies.ids, min_size=1, max_size=shape.max_keys, unique=True),
        st.lists(writes.map(Step), max_size=shape.max_prefix),
        st.lists(
            st.lists(client_step, min_size=1, max_size=shape.max_calls),
            min_size=shape.min_clients,
            max_size=shape.max_clients,
        ),
        _crashes(shape),
    )


@dataclass(frozen=True)
class _DrawnCrash:
    """A placed fault and which client write (counted over every client's writes) it strikes."""

    fault: str
    at: CrashPoint
    write: int


def _crashes(shape: ProgramShape) -> st.SearchStrategy[_DrawnCrash | None]:
    if not shape.crashes:
        return st.none()
    placed = st.sampled_from(shape.crashes).flatmap(
        lambda offered: st.builds(
            _DrawnCrash,
            st.just(offered[0]),
            st.builds(CrashPoint, st.sampled_from(offered[1]), st.integers(0, LARGEST_DRAWN_CRASH_K)),
            st.integers(0, shape.max_clients * shape.max_calls - 1),
        )
    )
    return st.none() | placed


def placed_faults(factory: BackendFactory) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The factory's nemeses that strike at crash points, with their points, for ``ProgramShape.crashes``.
    Not one that runs the write a second time (``duplicates_write``): a delete it repeats
    answers False, which a history cannot tell from a wrong answer."""
    return tuple(
        (name, tuple(nemesis.points))
        for name, nemesis in sorted(factory.nemeses.items())
        if getattr(nemesis, "points", ()) and not getattr(nemesis, "duplicates_write", False)
    )


def _resolved_program(
    keys: list[str], prefix: list[Step], clients: list[list[Step]], crash: _DrawnCrash | None = None
) -> ParallelProgram:
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

    resolved = [list(map(step, steps)) for steps in clients]
    writes = [(c, i) for c, steps in enumerate(resolved) for i, s in enumerate(steps) if isinstance(s.op, Write)]
    if crash is not None and writes:
        c, i = writes[crash.write % len(writes)]
        resolved[c][i] = Step(resolved[c][i].op, crash.fault, crash.at)
    return ParallelProgram(tuple(map(step, prefix)), tuple(map(tuple, resolved)))


# -- running one program ---------------------------------------------------------------------
class UnexpectedError(ContractViolation):
    """A valid call raised while no fault was injected into it."""


def check_program(
    factory: BackendFactory, program: ParallelProgram, clients_as: str = "threads", pool: ClientPool | None = None
) -> History:
    """Run ``program`` on a fresh store and check it; raise ``ContractViolation`` on a failure
    (with the run's ``history`` attached)."""
    history = run_program(factory, program, clients_as, pool)
    try:
        judge(history, atol=factory.score_atol, exact=not factory.approximate)
    except ContractViolation as violation:
        violation.history = history
        raise
    return history


def judge(history: History, *, atol: float, exact: bool) -> None:
    """Raise ``ContractViolation`` unless every call that raised was allowed to and the history
    is linearizable."""
    for index, call in enumerate(history.calls):
        if call.error is not None and call.planned.fault is None and not call.cut_off:
            raise UnexpectedError(
                "a valid call raised with no fault injected, while other clients ran (CONTRACT §4):\n  "
                + history.describe(index),
                "success",
                call.error,
            )
    linearizability.check(history, atol=atol, exact=exact)


def judge_recorded(seed: parallel_seeds.ParallelSeed) -> ContractViolation | None:
    """The verdict on the seed's recorded history (``None``: it passes), the same on every
    machine and every time."""
    try:
        judge(recorded_history(seed), atol=seed.history.atol, exact=seed.history.exact)
    except ContractViolation as violation:
        return violation
    return None


def recorded_history(seed: parallel_seeds.ParallelSeed) -> History:
    """The seed's recorded run: the program's planned calls, rebuilt on the Sim, joined to what
    the recorded run answered."""
    if seed.history is None:
        raise ValueError("the seed holds no recorded history")
    harness = Harness(registry.build("sim", Path(tempfile.gettempdir()), seed.dim))
    try:
        program = ParallelProgram(tuple(seed.prefix), tuple(tuple(steps) for steps in seed.clients))
        plans, initial = _plans(harness, program)
    finally:
        harness.close()
    return seed.history.history(seed.dim, initial, [*plans, _read_back(program, initial)])


def run_program(
    factory: BackendFactory, program: ParallelProgram, clients_as: str = "threads", pool: ClientPool | None = None
) -> History:
    """The prefix through the sequential harness, then the clients at once, then read-back."""
    if clients_as not in CLIENT_KINDS:
        raise ValueError(f"clients_as must be one of {CLIENT_KINDS}, got {clients_as!r}")
    check_faults(factory, program, clients_as)
    harness = Harness(factory)
    try:
        plans, initial = _plans(harness, program)
        if clients_as == "threads":
            calls = run_threads(factory, plans)
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


def check_faults(factory: BackendFactory, program: ParallelProgram, clients_as: str) -> None:
    """Every fault a client step names can strike there: a nemesis the backend offers, placed
    at one of its points, on clients run as threads, or ``kill_client`` on client processes;
    ``MalformedSeed`` names the first that cannot, or a maintenance step the backend does not
    run beside other clients."""
    concurrent = declared_maintenance(factory, "concurrent_maintenance")
    for c, steps in enumerate(program.clients):
        for i, step in enumerate(steps):
            if isinstance(step.op, Maintain) and step.op.operation not in concurrent:
                raise seeds.MalformedSeed(
                    f"field clients[{c}][{i}].operation: backend {factory.name!r} runs no maintenance "
                    f"{step.op.operation!r} beside other clients; it declares {concurrent}"
                )
            if step.fault is None or step.fault in INJECTED_FAULTS:
                continue
            where = f"field clients[{c}][{i}]"
            if step.fault == KILL_CLIENT:
                points, runs_as = KILL_POINTS, "processes"
            elif step.fault in factory.nemeses:
                points, runs_as = tuple(getattr(factory.nemeses[step.fault], "points", ())), "threads"
            else:
                raise seeds.MalformedSeed(f"{where}.fault: backend {factory.name!r} offers no fault {step.fault!r}")
            if clients_as != runs_as:
                raise seeds.MalformedSeed(f"{where}.fault: {step.fault} strikes only clients run as {runs_as}")
            if step.at is None or step.at.point not in points:
                raise seeds.MalformedSeed(
                    f"{where}.at: {step.fault} in a concurrent history needs a crash point, one of {points}"
                )


def _plans(harness: Harness, program: ParallelProgram) -> tuple[list[list[Planned]], dict]:
    """Run the prefix (with every check), then plan each client's calls against the oracle;
    also return the records the prefix left."""
    for step in program.prefix:
        harness.run(step)
    plans = [[plan(harness, step) for step in steps] for steps in program.clients]
    return plans, {id: harness.oracle.get(id) for id in harness.oracle.ids()}


def plan(harness: Harness, step: Step) -> Planned:
    """Concrete arguments for a client step, made against the oracle's current state."""
    op = step.op
    if isinstance(op, Write):
        call = harness.write_call(op)
        return Planned(op, call.method, call.args, step.fault, step.at)
    if step.fault is not None:
        raise ValueError(f"fault {step.fault!r} attached to {op.kind}, which is not a write")
    if isinstance(op, Search):
        return Planned(op, "search", (harness.embedding(op.query), op.limit))
    if isinstance(op, Count):
        return Planned(op, "count", ())
    if isinstance(op, (Get, Exists)):
        return Planned(op, op.kind, (op.id,))
    if isinstance(op, Maintain):
        return Planned(op, "maintain", (op.operation,))
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
    crashes: int = 0
    """Runs whose program struck a client write with a placed nemesis (a crash)."""
    cut_off: int = 0
    """Calls of other clients those crashes cut off."""


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
    crashes: bool = False,
    maintenance: bool = False,
) -> ParallelResult:
    """Generate parallel programs against ``backend`` under Hypothesis (the active profile
    unless ``settings``); return the last failing program shrunk, saved as a seed if asked.

    Each program runs up to ``attempts`` times (a fresh store each) until one run fails: a
    race that shows only sometimes then survives shrinking more often. With ``crashes``, a
    program may strike one client write with one of the backend's placed nemeses (clients as
    threads) or kill one client process in a write (``kill_client``). With ``maintenance``,
    a client step may run one of the backend's ``concurrent_maintenance`` operations (a
    ``REINDEX CONCURRENTLY``) while the others read and write.
    """
    builder = registry.resolve(backend) if isinstance(backend, str) else backend
    spec = backend if isinstance(backend, str) else f"{builder.__module__}:{builder.__name__}"
    if crashes and clients_as == "processes":
        shape = dataclasses.replace(shape, crashes=((KILL_CLIENT, KILL_POINTS),))
    elif crashes:
        probe = builder(workdir / "parallel-probe", dim)
        try:
            shape = dataclasses.replace(shape, crashes=placed_faults(probe))
        finally:
            probe.destroy()
        if not shape.crashes:
            raise ValueError(f"{spec} offers no nemesis placed at crash points to crash its clients run as threads")
    if maintenance:
        probe = builder(workdir / "parallel-probe", dim)
        try:
            shape = dataclasses.replace(shape, maintenance=declared_maintenance(probe, "concurrent_maintenance"))
        finally:
            probe.destroy()
        if not shape.maintenance:
            raise ValueError(f"{spec} declares no concurrent_maintenance to run beside its clients")
    stores = itertools.count()
    failures: list[tuple[ParallelProgram, ContractViolation, BackendFactory]] = []
    overlapping: list[int] = []
    crashes: list[History] = []
    versions: dict[str, str] = {}
    started = time.perf_counter()

    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ClientPool()) if clients_as == "processes" else None

        @given(parallel_programs(dim, shape))
        def example(program: ParallelProgram) -> None:
            for _ in range(attempts):
                factory = builder(workdir / f"parallel-{next(stores)}", dim)
                history: History | None = None
                try:
                    if not versions:
                        versions.update(getattr(factory, "versions", dict)())
                    history = check_program(factory, program, clients_as, pool)
                    overlapping.append(history.overlapping())
                except ContractViolation as error:
                    history = getattr(error, "history", None)
                    failures.append((program, error, factory))
                    raise
                finally:
                    factory.destroy()
                    if history is not None and any(call.planned.at is not None for call in history.calls):
                        crashes.append(history)

        test = settings(example) if settings is not None else example
        try:
            with seed_only_generation():  # the same programs whatever this process imported before
                test()
        except Exception:  # a finding, or Hypothesis reporting that it did not always recur
            if not failures:
                raise
    runs = next(stores)
    seconds = time.perf_counter() - started
    crashed = {"crashes": len(crashes), "cut_off": sum(call.cut_off for history in crashes for call in history.calls)}
    if not failures:
        return ParallelResult(spec, clients_as, runs, seconds, True, sum(overlapping), **crashed)
    program, error, factory = failures[-1]
    result = ParallelResult(spec, clients_as, runs, seconds, False, sum(overlapping), str(error), program, **crashed)
    if seeds_dir is not None:
        history = getattr(error, "history", None)
        seed = parallel_seeds.ParallelSeed(
            backend=spec,
            dim=dim,
            clients_as=clients_as,
            prefix=list(program.prefix),
            clients=[list(steps) for steps in program.clients],
            failure=seeds.failure_record(error, None),
            versions=seeds.software_versions(versions),
            description=str(error).splitlines()[0],
            history=None
            if history is None
            else history_codec.recorded(history, factory.score_atol, not factory.approximate),
        )
        result.seed_path = seeds.write(seed, seeds_dir)
    return result


@dataclass
class ParallelReplay:
    backend: str
    runs: int
    failures: list[str]
    """The failure message of every run that failed."""
    recorded: str | None = None
    """The verdict on the seed's recorded history ("" when it passes; ``None``: not judged)."""

    @property
    def reproduced(self) -> bool:
        return bool(self.failures)

    def summary(self) -> str:
        if not self.failures:
            live = (
                f"PASS on {self.backend}: no failure in {self.runs} concurrent runs "
                "(a race need not come back every time)"
            )
        else:
            live = (
                f"FAIL on {self.backend} in {len(self.failures)} of {self.runs} concurrent runs; "
                f"first: {self.failures[0]}"
            )
        if self.recorded is None:
            return live
        judged = f"FAIL: {self.recorded.splitlines()[0]}" if self.recorded else "PASS"
        return f"recorded run (judged again, the same verdict every time): {judged}\n{live}"


def replay_parallel(
    seed: parallel_seeds.ParallelSeed,
    backend: str | None = None,
    runs: int = 10,
    workdir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ParallelReplay:
    """Run a parallel seed's program ``runs`` times, each on a fresh store; count the failures.
    On the seed's own backend, its recorded history is judged again first."""
    spec = backend or seed.backend
    program = ParallelProgram(tuple(seed.prefix), tuple(tuple(steps) for steps in seed.clients))
    recorded = None
    if seed.history is not None and spec == seed.backend:
        violation = judge_recorded(seed)
        recorded = "" if violation is None else str(violation)
        if log:
            log(f"recorded run: {'pass' if violation is None else 'FAIL: ' + str(violation)}")
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
    return ParallelReplay(spec, runs, failures, recorded)
