"""The contract machine: a Hypothesis state machine built from any backend factory.

Rules are thin: each builds one ``Step`` of plain data and hands it to the ``Harness``, which
runs it on the backend and the oracle and checks the outcome. The machine records every step,
so the shrunk failure Hypothesis replays last becomes a seed file (see ``campaign``).
Fault kinds are chosen per test case, swarm-style, by a bit mask drawn at initialisation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from umi_dst import invalid, registry, strategies
from umi_dst.contract import FactoryBuilder
from umi_dst.harness import Harness
from umi_dst.operations import (
    Abandon,
    Count,
    CrashPoint,
    Delete,
    Exists,
    Get,
    Invalid,
    Reopen,
    Search,
    Step,
    Store,
    StoreBatch,
)
from umi_dst.strategies import IdChoice, NearDuplicate, Pick, concrete_id, resolve

STRUCTURAL = ("reopen", "abandon")
"""Connection events that swarm testing switches on and off per test case, like faults."""
MAX_DRAWN_CRASH_K = 63
"""Largest count drawn for a crash point; a count past the end of a write means after it."""


@dataclass(frozen=True)
class MachineConfig:
    """Sizes the machine generates; the default keeps a step well under a second everywhere."""

    max_bulk: int = 300


@dataclass
class Failure:
    """The steps of the latest failing run and the error that ended it."""

    steps: list[Step]
    error: BaseException
    at_step: int | None
    """Index of the failing step, or ``None`` when the final checks failed."""


@dataclass
class MachineRecord:
    """What a machine class remembers across runs: examples run and the latest failure."""

    examples: int = 0
    failure: Failure | None = None
    on_example: Callable[[], None] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    """The backend's software versions, read from the first factory built."""
    _stores: itertools.count = field(default_factory=itertools.count)


def contract_machine(
    builder: FactoryBuilder, *, dim: int, workdir: Path, config: MachineConfig = MachineConfig()
) -> type[RuleBasedStateMachine]:
    """A machine class whose every test case opens a fresh store from ``builder``."""
    record = MachineRecord()
    ids_or_picks = strategies.existing_or_any_ids

    class ContractMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            store_dir = workdir / f"store-{next(record._stores)}"
            store_dir.mkdir(parents=True, exist_ok=True)
            self.factory = builder(store_dir, dim)
            if not record.versions:
                record.versions = getattr(self.factory, "versions", dict)()
            self.harness = Harness(self.factory)
            self.steps: list[Step] = []
            self.enabled: tuple[str, ...] = ()
            self.failed = False

        @initialize(mask=st.integers(0, 2**16 - 1))
        def choose_faults(self, mask: int) -> None:
            """Swarm testing: each test case enables its own subset of faults and events."""
            kinds = STRUCTURAL + self.harness.available_faults()
            self.enabled = tuple(kind for bit, kind in enumerate(kinds) if mask >> bit & 1)

        def run(self, step: Step) -> None:
            self.steps.append(step)
            try:
                self.harness.run(step)
            except BaseException as error:
                self.failed = True
                record.failure = Failure(list(self.steps), error, len(self.steps) - 1)
                raise

        @rule(op=strategies.stores(dim))
        def store(self, op: Store) -> None:
            self.run(Step(Store(op.id, resolve(op.embedding, self.harness.oracle.ids()))))

        @rule(id=strategies.near_duplicates, recipe=strategies.recipes(dim))
        def store_near_duplicate(self, id: NearDuplicate, recipe) -> None:
            stored = self.harness.oracle.ids()
            self.run(Step(Store(concrete_id(id, stored), resolve(recipe, stored))))

        @rule(op=strategies.batches(dim, config.max_bulk))
        def store_batch(self, op: StoreBatch) -> None:
            self.run(Step(self._resolved_batch(op)))

        @rule(id=ids_or_picks)
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

        @rule(id=ids_or_picks)
        def get(self, id: IdChoice) -> None:
            self.run(Step(Get(concrete_id(id, self.harness.oracle.ids()))))

        @rule(id=ids_or_picks)
        def exists(self, id: IdChoice) -> None:
            self.run(Step(Exists(concrete_id(id, self.harness.oracle.ids()))))

        @rule()
        def count(self) -> None:
            self.run(Step(Count()))

        @rule(op=strategies.searches(dim))
        def search(self, op: Search) -> None:
            self.run(Step(Search(resolve(op.query, self.harness.oracle.ids()), op.limit)))

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

        @precondition(lambda self: any(kind not in STRUCTURAL for kind in self.enabled))
        @rule(
            write=strategies.stores(dim) | strategies.batches(dim, config.max_bulk) | ids_or_picks,
            choice=st.integers(0, 255),
            point=st.integers(0, 15),
            k=st.integers(0, MAX_DRAWN_CRASH_K),
        )
        def faulty_write(self, write, choice: int, point: int, k: int) -> None:
            """A write under one enabled fault; a fault that strikes inside the write gets a
            crash point (a named point and a count), so the seed replays the same crash."""
            faults = [kind for kind in self.enabled if kind not in STRUCTURAL]
            stored = self.harness.oracle.ids()
            if isinstance(write, StoreBatch):
                op = self._resolved_batch(write)
            elif isinstance(write, Store):
                op = Store(write.id, resolve(write.embedding, stored))
            else:
                op = Delete(concrete_id(write, stored))
            fault = faults[choice % len(faults)]
            points = self.harness.crash_points(fault)
            at = CrashPoint(points[point % len(points)], k) if points else None
            self.run(Step(op, fault, at))

        def _resolved_batch(self, op: StoreBatch) -> StoreBatch:
            stored = self.harness.oracle.ids()
            return StoreBatch(tuple((id, resolve(recipe, stored)) for id, recipe in op.items), op.bulk)

        def teardown(self) -> None:
            try:
                if not self.failed:
                    self._finish()
            finally:
                self.harness.close()
                self.factory.destroy()
                record.examples += 1
                if record.on_example:
                    record.on_example()

        def _finish(self) -> None:
            try:
                self.harness.finish()
            except BaseException as error:
                record.failure = Failure(list(self.steps), error, None)
                raise

    ContractMachine.record = record
    ContractMachine.__name__ = ContractMachine.__qualname__ = f"ContractMachine_{getattr(builder, '__name__', 'backend')}"
    return ContractMachine


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
    run_state_machine_as_test(machine, settings=settings)
