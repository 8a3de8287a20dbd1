"""The contract machine: a Hypothesis state machine built from any backend factory.

Rules are thin: each builds one ``Step`` of plain data and hands it to the ``Harness``, which
runs it on the backend and the oracle and checks the outcome. The machine records every step,
so the shrunk failure Hypothesis replays last becomes a seed file (see ``campaign``).
Fault kinds, the dimension and whether the case runs long are chosen per test case at
initialisation (swarm testing); campaigns give each fault a faulty-write rule of its own instead. In a campaign (``keep_going``) a failure whose signature is
already known only ends its test case and is counted; the first new one is raised (unless the
campaign is only searching, which counts it too), and only failures with that signature count
while Hypothesis shrinks it.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from hypothesis import event, reject, target
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from umi_dst import invalid, registry
from umi_dst.campaign import signatures
from umi_dst.campaign.coverage import Coverage
from umi_dst.campaign.workers import raise_if_terminated
from umi_dst.checking.harness import Harness
from umi_dst.contract import FactoryBuilder, declared_maintenance, declares_filters, unindexed_rows
from umi_dst.filter_support import WHOLE_DIALECT, FilterSupport, declared_support
from umi_dst.generation import filter_rules, maintenance_rules, search_mix, strategies
from umi_dst.generation.determinism import seed_only_generation
from umi_dst.generation.strategies import IdChoice, NearDuplicate, Pick, concrete_id, resolve
from umi_dst.operations import (
    Abandon,
    Count,
    CrashPoint,
    Delete,
    Exists,
    Get,
    Invalid,
    Maintain,
    Reopen,
    Search,
    Step,
    Store,
    StoreBatch,
    Write,
    rows_written,
)
from umi_dst.recipes import Random, Recipe

STRUCTURAL = ("reopen", "abandon")
"""Connection events that swarm testing switches on and off per test case, like faults."""
LONG_CASE_WRITES = (100, 500)
"""A long test case opens with a run of this many single writes (bounds included) through its
first connection: commit counters, buffers and leaks that need hundreds of writes show."""
FAULT_RULES = 6
"""Faulty-write rules with ``rule_per_fault``: fault ``i`` of a backend is written by rule
``i % FAULT_RULES``, so each fault has a rule of its own, which Hypothesis's swarm testing
switches on and off per test case, and a backend with more faults gets more faulty writes, not
fewer of each."""
FAULT_STRIKES = (3, 4)
"""With ``rule_per_fault`` a faulty-write rule's write runs under its fault 3 times in 4, else
with none: every fault fires past the coverage floor in a campaign's budget (the firings are in
the campaign report), while crashing a server or a writer, the dearest step there is, stays
rarer than with every write faulty."""
SCALES = 8
"""A test case draws its scale in ``range(SCALES)``: at 0 (one case in eight) its bulk parts
and its long run are cut to ``SMALL_SCALE_ROWS``; otherwise they keep their drawn sizes."""
SMALL_SCALE_ROWS = 8
"""Rows of a bulk part, and writes of a long run, in a small-scale test case. The scale is
one of a case's first choices, and Hypothesis's shrinker tries the lowest value of each early
choice before anything else: a failure that does not need large writes is cut to small ones
in one of its first replays, and every later replay is cheap (tests/test_shrinking_cost.py)."""
MAX_DRAWN_CRASH_K = 63
"""Largest count drawn for a crash point; a count past the end of a write means after it."""


@dataclass(frozen=True)
class MachineConfig:
    """Sizes the machine generates; the default keeps a step well under a second everywhere."""

    max_bulk: int = 300
    """Largest bulk part of a batch; when the dimension is drawn, large dims get fewer rows."""
    long_cases: bool = False
    """Let one test case in six run long (``LONG_CASE_WRITES``), at a small dimension."""
    keep_going: bool = False
    """Campaign mode: count failures of known signatures instead of stopping at them."""
    rule_per_fault: bool = False
    """Give each fault a faulty-write rule of its own that strikes ``FAULT_STRIKES`` of the
    times, and let Hypothesis's swarm testing alone switch those rules and reopen (campaigns:
    every fault and reopen fire often, however many faults the backend has); otherwise one rule
    writes under one of the faults the test case's mask enabled, and the mask switches reopen
    too (the cheaper ci mix). The mask always switches abandon: Hypothesis tries the rules in
    name order and favours the first, so an abandon always enabled took ten times its share."""
    aimed_searches: bool = False
    """Add ``search_mix``'s rules: search becomes the most frequent read, aimed at ties, limits
    and the states after deletes, re-stores, batches, reopens, abandons and faults."""
    maintenance_steps: bool = False
    """Add ``maintenance_rules``' rules for a backend that declares maintenance operations:
    index builds, compactions, clean-ups as steps, under faults, searched right after."""

    def bulk_cap(self, dim: int) -> int:
        """The largest bulk part at a drawn ``dim``: as many floats as ``max_bulk`` rows at dim 32,
        but never fewer than 64 rows (past the candidate lists of approximate indexes)."""
        return max(64, self.max_bulk * 32 // max(dim, 32))


@dataclass
class Failure:
    """The steps of the latest failing run and the error that ended it."""

    steps: list[Step]
    error: BaseException
    at_step: int | None
    """Index of the failing step, or ``None`` when the final checks failed."""
    dim: int | None = None
    """The test case's dimension (drawn per case unless pinned)."""


@dataclass
class MachineRecord:
    """What a machine class remembers across runs: test cases, failures, signatures, coverage."""

    examples: int = 0
    """Every test case run, the replays of shrinking included."""
    generated: int = 0
    """Test cases generated before the first new failure (shrinking replays excluded)."""
    failure: Failure | None = None
    on_example: Callable[[], None] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    """The backend's software versions, read from the first factory built."""
    known: frozenset[str] = frozenset()
    """Signatures that only end their test case and are counted (``keep_going``)."""
    shrink_new: bool = True
    """Raise the first failure of a signature not in ``known`` for Hypothesis to shrink;
    ``False`` counts that one too (a campaign's search, which has it shrunk afterwards)."""
    target: str | None = None
    """The new signature being shrunk; set by its first failure."""
    hits: Counter = field(default_factory=Counter)
    """Signature -> generated test cases that failed with it."""
    coverage: Coverage = field(default_factory=Coverage)
    deadline: float | None = None
    """``time.monotonic()`` after which new test cases do nothing and are not counted (time budgets)."""
    shrink_budget: int | None = None
    """The cost (``step_cost``) of the target's first failure (``keep_going``): a shrink
    candidate that would cost more is rejected before the step that overruns it."""
    _stores: itertools.count = field(default_factory=itertools.count)


def step_cost(step: Step) -> int:
    """What a step costs a backend, in the unit a shrink budget counts: one call plus every
    record it writes. A real backend's time grows with records written (commits, index
    updates, crash states to check), so a replay's cost follows it."""
    return 1 + rows_written(step.op)


@dataclass(frozen=True)
class WriteRun:
    """The single writes a long test case opens with: ``count`` stores over ``distinct`` ids."""

    seed: int
    count: int
    distinct: int

    def steps(self) -> list[Step]:
        return [
            Step(Store(f"run-{self.seed % 1000}-{i % self.distinct}", Random((self.seed + i) % 2**32)))
            for i in range(self.count)
        ]


write_runs = st.builds(WriteRun, strategies.seeds, st.integers(*LONG_CASE_WRITES), st.integers(1, LONG_CASE_WRITES[1]))


def case_shapes(dim: int | None, long_cases: bool) -> st.SearchStrategy:
    """``(dim, run)`` of a test case: one in six opens with a long ``WriteRun`` at a small dim."""
    normal = st.tuples(strategies.dimensions(dim), st.none())
    if not long_cases:
        return normal
    long = st.tuples(strategies.long_case_dimensions(dim), write_runs)
    return st.integers(0, 5).flatmap(lambda n: long if n == 5 else normal)


class ContractMachine(RuleBasedStateMachine):
    """The rules every backend gets and the bookkeeping of a test case: each step is run by the
    ``Harness``, recorded, charged against the shrink budget and counted in the coverage.

    ``contract_machine`` makes the class a run uses: a subclass that sets the class attributes
    below and adds the rules whose strategies depend on the dimension and the sizes
    (``_sized_rules``) and the optional rule modules (aimed searches, filters).
    """

    builder: ClassVar[FactoryBuilder]
    pinned_dim: ClassVar[int | None]
    """The dimension every case uses, or ``None`` to draw it per case."""
    workdir: ClassVar[Path]
    config: ClassVar[MachineConfig]
    record: ClassVar[MachineRecord]

    def __init__(self) -> None:
        super().__init__()
        record = self.record
        self.store_dir = self.workdir / f"store-{next(record._stores)}"
        self.factory = None
        self.harness: Harness | None = None
        self.steps: list[Step] = []
        self.enabled: tuple[str, ...] = ()
        self.fault_slots: list[tuple[str, ...]] = [()] * FAULT_RULES
        """The faults each faulty-write rule writes under."""
        self.long = False
        self.small_scale = False
        self.filters = False
        """Whether the factory declares filters: only then are the filter rules drawn."""
        self.maintenance: tuple[str, ...] = ()
        """The factory's maintenance operations, which the maintenance rules run."""
        self.stopped = False
        """Set by a failure: later rules do nothing and the final checks are skipped."""
        self.generated = record.target is None
        if record.deadline is not None and time.monotonic() > record.deadline:
            self.stopped, self.generated = True, False
        self.coverage = Coverage(cases=1)
        self.cost = 0
        """The steps' ``step_cost`` so far."""

    def start_case(self, scale: int, mask: int, shape: tuple[int, WriteRun | None]) -> None:
        """A fresh store of this case's dimension and scale; swarm testing picks its faults and events."""
        case_dim, run = shape
        self.long = run is not None
        self.small_scale = scale == 0
        if run is not None and self.small_scale:
            run = dataclasses.replace(run, count=SMALL_SCALE_ROWS)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.factory = self.builder(self.store_dir, case_dim)
        if not self.record.versions:
            self.record.versions = getattr(self.factory, "versions", dict)()
        self.harness = Harness(self.factory)
        self.filters = self.coverage.declares_filters = declares_filters(self.factory)
        self.maintenance = declared_maintenance(self.factory) if self.config.maintenance_steps else ()
        self.coverage.declared_maintenance.update(self.maintenance)
        kinds = STRUCTURAL + self.harness.available_faults()
        self.enabled = tuple(kind for bit, kind in enumerate(kinds) if mask >> bit & 1)
        faults = kinds[len(STRUCTURAL) :]
        if self.config.rule_per_fault:  # the faults' rules and reopen: Hypothesis's swarm testing alone
            self.enabled = (*self.enabled, "reopen")  # (the mask on top left it in one case in four)
            self.fault_slots = [faults[slot::FAULT_RULES] for slot in range(FAULT_RULES)]
        else:
            self.fault_slots = [tuple(f for f in faults if f in self.enabled)] + [()] * (FAULT_RULES - 1)
        self.coverage.dims[case_dim] += 1
        self.coverage.declared_faults.update(kinds)
        for step in run.steps() if run else ():
            self.run(step)

    def run(self, step: Step) -> None:
        if self.stopped:
            return
        raise_if_terminated()
        self._charge(step)
        self.steps.append(step)
        try:
            self.harness.run(step)
        except BaseException as error:
            self._failed(error, len(self.steps) - 1)
            return
        self._cover(step)

    def _charge(self, step: Step) -> None:
        """Reject a shrink candidate before the step that makes it cost more than the failure
        being shrunk. Hypothesis orders candidates by their choices, not their cost: a few
        choices draw a 300-row bulk, and the shrinker's random completions of a case draw them
        often. A shrunk failure never costs more than the one found."""
        self.cost += step_cost(step)
        if self.record.shrink_budget is not None and self.cost > self.record.shrink_budget:
            self.stopped, self.generated = True, False
            reject()

    def _failed(self, error: BaseException, at_step: int | None) -> None:
        """Record a failure; raise it unless its signature is one to count and move past."""
        record = self.record
        self.stopped = True
        failure = Failure(list(self.steps), error, at_step, self.factory.dim)
        if not self.config.keep_going or not isinstance(error, Exception):
            record.failure = failure
            raise error
        signature = signatures.of_failure(failure.steps, at_step, error)
        if record.target is None:
            record.hits[signature] += 1
            if signature in record.known or not record.shrink_new:
                return
            record.target = signature
        if signature == record.target:
            record.failure = failure
            self._budget_shrinking()
            raise error

    def _budget_shrinking(self) -> None:
        """The target's first failure is the one Hypothesis shrinks (failures of other
        signatures do not fail a case): its cost bounds every candidate's. Without
        ``keep_going`` a run may shrink several failures, so it has no budget."""
        if self.record.shrink_budget is None:
            self.record.shrink_budget = self.cost

    def _cover(self, step: Step) -> None:
        cover = self.coverage
        cover.steps += 1
        cover.operations[step.op.kind] += 1
        if step.fault is not None:
            cover.fault(step.fault, self.harness.fault_outcome)
        cover.largest_store = max(cover.largest_store, self.harness.oracle.count())
        if isinstance(step.op, Maintain):
            cover.maintained(step.op.operation, self.harness.maintenance_outcome)
        elif isinstance(step.op, StoreBatch):
            cover.largest_batch = max(cover.largest_batch, rows_written(step.op))
        elif isinstance(step.op, Search):
            cover.search(
                search_mix.query_kind(step.op.query),
                search_mix.limit_class(step.op.limit, self.harness.oracle.count()),
            )
            self._cover_cutoff(step.op)
            if self.maintenance and (unindexed := unindexed_rows(self.harness.backend)) is not None:
                cover.index_probed_searches += 1
                cover.unindexed_searches += unindexed > 0
        else:
            filter_rules.cover(cover, step.op, self.harness)

    def _cover_cutoff(self, op: Search) -> None:
        """Whether the search's cut-off fell between records with equal or nearly equal scores."""
        oracle = self.harness.oracle
        if not 0 < op.limit < oracle.count():
            return
        _, scores = oracle.scores(self.harness.embedding(op.query))
        ranked = -np.partition(-scores, [op.limit - 1, op.limit])
        last_in, first_out = ranked[op.limit - 1], ranked[op.limit]
        if last_in == first_out:
            self.coverage.tie_cutoffs += 1
        elif last_in - first_out <= self.factory.score_atol:
            self.coverage.near_tie_cutoffs += 1

    @rule(id=strategies.existing_or_any_ids)
    def delete(self, id: IdChoice) -> None:
        self.run(Step(Delete(concrete_id(id, self.harness.oracle.ids()))))

    @rule(base=strategies.picks)
    def near_duplicates_stay_apart(self, base: Pick) -> None:
        """Every near-duplicate of a stored id, each a step: none may be confused with it."""
        for how in strategies.VARIANTS:
            self.run(Step(Exists(concrete_id(NearDuplicate(base, how), self.harness.oracle.ids()))))

    @rule(base=strategies.picks)
    def delete_near_duplicates(self, base: Pick) -> None:
        """Delete each near-duplicate of a stored id: only that exact id may go."""
        for how in strategies.VARIANTS:
            self.run(Step(Delete(concrete_id(NearDuplicate(base, how), self.harness.oracle.ids()))))

    @rule(id=strategies.existing_or_any_ids)
    def get(self, id: IdChoice) -> None:
        self.run(Step(Get(concrete_id(id, self.harness.oracle.ids()))))

    @rule(id=strategies.existing_or_any_ids)
    def exists(self, id: IdChoice) -> None:
        self.run(Step(Exists(concrete_id(id, self.harness.oracle.ids()))))

    @rule()
    def count(self) -> None:
        self.run(Step(Count()))

    @rule(call=st.sampled_from(sorted(invalid.DEFECTS)))
    def invalid_input(self, call: str) -> None:
        """Every defect of one call, each a step of its own: all must be rejected."""
        for defect in invalid.DEFECTS[call]:
            self.run(Step(Invalid(call, defect)))

    @precondition(lambda self: "reopen" in self.enabled)
    @rule()
    def reopen(self) -> None:
        self.run(Step(Reopen()))

    @precondition(lambda self: "abandon" in self.enabled)
    @rule()
    def abandon(self) -> None:
        self.run(Step(Abandon()))

    def write_under_fault(self, fault: str | None, write: Write, point: int, k: int) -> None:
        """A write under ``fault`` (if any); a fault that strikes inside the write gets a
        crash point (a named point and a count), so the seed replays the same crash."""
        stored = self.harness.oracle.ids()
        if isinstance(write, StoreBatch):
            op = self.resolved_batch(write)
        elif isinstance(write, Store):
            op = Store(write.id, resolve(write.embedding, stored))
        else:
            op = Delete(concrete_id(write.id, stored))
        points = self.harness.crash_points(fault) if fault else ()
        at = CrashPoint(points[point % len(points)], k) if points else None
        self.run(Step(op, fault, at))

    def resolved_batch(self, op: StoreBatch) -> StoreBatch:
        """``op`` with its picks resolved and its bulk part cut to the case's dimension and scale."""
        stored = self.harness.oracle.ids()
        bulk = op.bulk
        config = self.config
        cap = config.max_bulk if self.pinned_dim is not None else config.bulk_cap(self.factory.dim)
        if self.small_scale:
            cap = min(cap, SMALL_SCALE_ROWS)
        if bulk is not None and bulk.count > cap:
            bulk = dataclasses.replace(bulk, count=cap, distinct=min(bulk.distinct, cap))
        return StoreBatch(tuple((concrete_id(id, stored), resolve(recipe, stored)) for id, recipe in op.items), bulk)

    def teardown(self) -> None:
        if self.harness is None:
            return
        record = self.record
        try:
            self._report_to_hypothesis()
            if not self.stopped:
                self._finish()
        finally:
            self.harness.close()
            self.factory.destroy()
            record.examples += 1
            if self.generated:
                record.generated += 1
                self.coverage.longest_case = len(self.steps)
                record.coverage.merge(self.coverage)
                if record.on_example:
                    record.on_example()

    def _finish(self) -> None:
        try:
            self.harness.finish()
        except BaseException as error:
            self._failed(error, None)
        finally:  # counted even when the battery's judgement failed
            if self.harness.filtered_recall is not None:
                self.coverage.filtered_battery(self.harness.filtered_recall.by_share)

    def _report_to_hypothesis(self) -> None:
        """Events for ``--hypothesis-show-statistics``; targets steer towards big stores and faults."""
        event(f"dim {self.factory.dim}" + (" (long case)" if self.long else ""))
        for name, outcomes in sorted(self.coverage.faults.items()):
            for outcome in sorted(outcomes):
                event(f"fault {name}: {outcome}")
        target(float(self.coverage.largest_store), label="largest store")
        target(float(sum(sum(o.values()) for o in self.coverage.faults.values())), label="faults fired")


def contract_machine(
    builder: FactoryBuilder, *, dim: int | None, workdir: Path, config: MachineConfig = MachineConfig()
) -> type[ContractMachine]:
    """A machine class whose every test case opens a fresh store from ``builder``.

    ``dim=None`` draws the dimension per test case (``strategies.dimensions``).
    """
    recipe_dim = dim or max(strategies.EMBEDDING_DIMS)  # one-hot axes are taken modulo the case's dim
    name = f"ContractMachine_{getattr(builder, '__name__', 'backend')}"
    setup = {
        "builder": staticmethod(builder),
        "pinned_dim": dim,
        "workdir": workdir,
        "config": config,
        "record": MachineRecord(),
        "__qualname__": name,
    }
    machine = type(name, (ContractMachine,), {**setup, **_sized_rules(dim, recipe_dim, config)})
    if config.aimed_searches:
        search_mix.add_rules(machine, recipe_dim)
    filters, maintenance, support = _declared(builder, workdir, dim)
    if filters:
        filter_rules.add_rules(machine, recipe_dim, support)
    if maintenance and config.maintenance_steps:
        maintenance_rules.add_rules(machine, recipe_dim, maintenance)
    return machine


def _sized_rules(dim: int | None, recipe_dim: int, config: MachineConfig) -> dict[str, Callable]:
    """The rules whose strategies depend on the pinned dimension and the configured sizes."""

    @initialize(
        scale=st.integers(0, SCALES - 1),
        mask=st.integers(0, 2**16 - 1),
        shape=case_shapes(dim, config.long_cases),
    )
    def open_store(self, scale: int, mask: int, shape: tuple[int, WriteRun | None]) -> None:
        self.start_case(scale, mask, shape)

    @rule(op=strategies.stores(recipe_dim))
    def store(self, op: Store) -> None:
        self.run(Step(Store(op.id, resolve(op.embedding, self.harness.oracle.ids()))))

    @rule(id=strategies.near_duplicates, recipe=strategies.recipes(recipe_dim))
    def store_near_duplicate(self, id: NearDuplicate, recipe: Recipe) -> None:
        stored = self.harness.oracle.ids()
        self.run(Step(Store(concrete_id(id, stored), resolve(recipe, stored))))

    @rule(op=strategies.batches(recipe_dim, config.max_bulk))
    def store_batch(self, op: StoreBatch) -> None:
        self.run(Step(self.resolved_batch(op)))

    @rule(op=strategies.searches(recipe_dim))
    def search(self, op: Search) -> None:
        self.run(Step(Search(resolve(op.query, self.harness.oracle.ids()), op.limit)))

    rules = {
        "open_store": open_store,
        "store": store,
        "store_near_duplicate": store_near_duplicate,
        "store_batch": store_batch,
        "search": search,
    }
    if config.rule_per_fault:
        for slot in range(FAULT_RULES):
            rules[f"faulty_write_{slot}"] = _faulty_write_rule(
                f"faulty_write_{slot}", slot, recipe_dim, config.max_bulk, FAULT_STRIKES
            )
    else:
        rules["faulty_write"] = _faulty_write_rule("faulty_write", 0, recipe_dim, config.max_bulk, None)
    return rules


def _declared(builder: FactoryBuilder, workdir: Path, dim: int | None) -> tuple[bool, tuple[str, ...], FilterSupport]:
    """Whether the builder's stores declare filters (and which), and their maintenance operations. A
    machine's rules are fixed before its first test case, and a rule that is never enabled
    still changes what Hypothesis draws, so the filter and maintenance rules exist only for
    such a backend: one factory is built and destroyed to ask."""
    workdir.mkdir(parents=True, exist_ok=True)  # in the run's scratch, which a killed run's sweep removes
    probe = Path(tempfile.mkdtemp(prefix="filters-probe-", dir=workdir))
    try:
        factory = builder(probe, dim or min(strategies.EMBEDDING_DIMS))
    except Exception:  # the first test case reports why the backend cannot be built
        return False, (), WHOLE_DIALECT
    try:
        return declares_filters(factory), declared_maintenance(factory), declared_support(factory)
    finally:
        factory.destroy()
        shutil.rmtree(probe, ignore_errors=True)


def _faulty_write_rule(
    name: str, slot: int, recipe_dim: int, max_bulk: int, strikes: tuple[int, int] | None
) -> Callable:
    """The rule ``name`` writing under one of the faults in ``slot``; with ``strikes`` (k, n)
    only k times in n, else with no fault."""
    arguments = {
        "write": strategies.writes(recipe_dim, max_bulk),
        "choice": st.integers(0, 255),
        "point": st.integers(0, 15),
        "k": st.integers(0, MAX_DRAWN_CRASH_K),
    }
    if strikes is not None:
        arguments["strike"] = st.integers(1, strikes[1])

    @precondition(lambda self: bool(self.fault_slots[slot]))
    @rule(**arguments)
    def faulty_write(self, write, choice: int, point: int, k: int, strike: int = 1) -> None:
        faults = self.fault_slots[slot]
        fault = faults[choice % len(faults)] if strikes is None or strike <= strikes[0] else None
        self.write_under_fault(fault, write, point, k)

    faulty_write.__name__ = faulty_write.__qualname__ = name
    return faulty_write


def run_contract_machine(
    backend: str | FactoryBuilder,
    *,
    dim: int,
    workdir: Path,
    settings: Settings | None = None,
    config: MachineConfig = MachineConfig(),
) -> None:
    """Run the full contract machine against a backend; raise on the first violation."""
    builder = registry.resolve(backend) if isinstance(backend, str) else backend
    machine = contract_machine(builder, dim=dim, workdir=workdir, config=config)
    with seed_only_generation():  # the same cases whatever this process imported before
        run_state_machine_as_test(machine, settings=settings)
