"""The harness's own cost: contract-machine steps per second, next to a machine that does nothing.

The contract machine runs through the same code path as ``umi-dst run``; its factory is
wrapped so every backend call is timed, which splits a step's time into the backend's share
and the framework's (Hypothesis generation, the oracle, the checks). The bare machine has
an empty initialize rule and an empty rule, so its steps per second is Hypothesis's ceiling.
Both count steps the same way (rule calls, see ``_counting``).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from umi_dst import registry
from umi_dst.bench.timing import seconds
from umi_dst.checking.harness import Harness
from umi_dst.generation import machine
from umi_dst.operations import CrashPoint, Step, Store
from umi_dst.recipes import Random

DIM = 16
"""Small, so the figure is about the framework and the backend's per-call cost, not arithmetic."""

PARTS = ("backend", "setup", "nemesis")
"""Where a contract-machine run spends time besides the framework itself."""

BACKEND_METHODS = ("store", "store_batch", "get", "exists", "delete", "count", "search", "close")


def machine_settings(examples: int, steps: int) -> settings:
    """Generate only (no shrinking, no database), derandomised so runs are comparable."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def bare_machine(examples: int, steps: int) -> dict:
    """Steps per second of a Hypothesis machine that does nothing (one empty initialize, one empty rule)."""

    class Bare(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            pass

        @rule()
        def step(self) -> None:
            pass

    counted = _counting(Bare)
    elapsed, _ = seconds(lambda: run_state_machine_as_test(counted, settings=machine_settings(examples, steps)))
    return {
        "examples": counted.examples,
        "steps": counted.steps,
        "seconds": elapsed,
        "steps_per_s": counted.steps / elapsed,
    }


def contract_machine(spec: str, workdir: Path, examples: int, steps: int) -> dict:
    """Steps per second of the full contract machine on ``spec``, and where its time goes.

    A step is one rule call, as in the bare machine; ``operations`` counts the operations
    those rules ran on the backend and the oracle (a rule may run several).
    """
    builder = registry.resolve(spec)
    _warm_up(builder, workdir)
    clock = _Clock(builder)
    counted = _counting(machine.contract_machine(clock.build, dim=DIM, workdir=workdir))
    elapsed, _ = seconds(lambda: run_state_machine_as_test(counted, settings=machine_settings(examples, steps)))
    return {
        "examples": counted.examples,
        "steps": counted.steps,
        "operations": counted.operations,
        "seconds": elapsed,
        "steps_per_s": counted.steps / elapsed,
        "backend_calls": clock.calls,
        "nemesis_strikes": clock.strikes,
        **{f"{part}_seconds": clock.totals[part] for part in PARTS},
        **{f"{part}_share": clock.totals[part] / elapsed for part in PARTS},
    }


def shrink(spec: str, workdir: Path, examples: int, steps: int) -> dict:
    """Seconds to find a failure on ``spec`` and to shrink it, and the shrunk failure's length.

    Meant for the case-study backends, whose bugs are known: every shrink step is a replay on
    a fresh store, so this is where a user waits for a finding. The failure is shrunk as a
    campaign shrinks a finding (``campaign.shrink``; the pytest plugin's profiles also report
    one bug): the first failure's signature is the target, failures of other signatures only
    end their test case, and Hypothesis stops generating at the first failure. No failure
    within ``examples`` test cases is reported as ``found: False``.
    """
    built = machine.contract_machine(
        registry.resolve(spec), dim=DIM, workdir=workdir, config=machine.MachineConfig(keep_going=True)
    )
    record = built.record
    found_at: list[float] = []
    start = time.perf_counter()

    def on_example() -> None:
        if record.target is not None and not found_at:
            found_at.append(time.perf_counter() - start)

    record.on_example = on_example
    shrinking = settings(
        machine_settings(examples, steps),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
    )
    try:
        run_state_machine_as_test(built, settings=shrinking)
    except Exception:  # noqa: BLE001 - the failure is the point; its shape is read from the record
        pass
    elapsed = time.perf_counter() - start
    if not found_at or record.failure is None:
        return {"found": False, "examples": record.examples, "seconds": elapsed}
    return {
        "found": True,
        "examples": record.examples,
        "replays": record.examples - record.generated,
        "find_seconds": found_at[0],
        "shrink_seconds": elapsed - found_at[0],
        "seconds": elapsed,
        "shrunk_steps": len(record.failure.steps),
        "signature": record.target,
        "error": f"{type(record.failure.error).__name__}: {str(record.failure.error)[:120]}",
    }


def _counting(base: type[RuleBasedStateMachine]) -> type[RuleBasedStateMachine]:
    """``base`` with counts of test cases, rule calls (``steps``) and harness operations.

    Hypothesis checks invariants once when a test case's initialize rules are done and once
    after every rule call, so rule calls are invariant checks less test cases.
    """

    class Counted(base):
        examples = steps = operations = 0

        def __init__(self) -> None:
            super().__init__()
            Counted.examples += 1
            Counted.steps -= 1  # the check after initialization is not a step

        @invariant()
        def count_step(self) -> None:
            Counted.steps += 1

        def run(self, step) -> None:  # the contract machine's one entry to the harness
            Counted.operations += 1
            super().run(step)

    Counted.__name__ = Counted.__qualname__ = f"Counted{base.__name__}"
    return Counted


class _Clock:
    """Exclusive wall time per part: a backend call made inside a nemesis counts as backend."""

    def __init__(self, builder) -> None:
        self._builder = builder
        self.calls = 0
        self.strikes = 0
        """Writes run under a nemesis: the figure depends on how many the drawn cases hold."""
        self.totals = dict.fromkeys(PARTS, 0.0)
        self._stack: list[str] = []
        self._since = 0.0

    def build(self, workdir: Path, dim: int):
        return _TimedFactory(self.measure("setup", lambda: self._builder(workdir, dim)), self)

    def measure(self, part: str, call):
        self._switch()
        self._stack.append(part)
        self.calls += part == "backend"
        try:
            return call()
        finally:
            self._switch()
            self._stack.pop()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self._stack:
            self.totals[self._stack[-1]] += now - self._since
        self._since = now


class _TimedFactory:
    """The wrapped factory: ``open()`` and ``destroy()`` count as setup, nemeses as nemesis."""

    def __init__(self, inner, clock: _Clock) -> None:
        self._inner = inner
        self._clock = clock
        self.nemeses = {name: _TimedNemesis(nemesis, clock) for name, nemesis in inner.nemeses.items()}

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def open(self):
        return _TimedBackend(self._clock.measure("setup", self._inner.open), self._clock)

    def destroy(self) -> None:
        self._clock.measure("setup", self._inner.destroy)


class _TimedNemesis:
    def __init__(self, inner, clock: _Clock) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def disturb(self, backend, call) -> None:
        self._clock.strikes += 1
        self._clock.measure("nemesis", lambda: self._inner.disturb(backend, call))

    def strike(self, backend, call, at) -> None:
        """A fault placed at a crash point: a server crash and its restart count as nemesis."""
        self._clock.strikes += 1
        self._clock.measure("nemesis", lambda: self._inner.strike(backend, call, at))

    def heal(self) -> None:
        self._clock.measure("nemesis", self._inner.heal)


class _TimedBackend:
    def __init__(self, inner, clock: _Clock) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str):
        target = getattr(self._inner, name)
        if name not in BACKEND_METHODS:
            return target
        return lambda *args, **kwargs: self._clock.measure("backend", lambda: target(*args, **kwargs))


def _warm_up(builder, workdir: Path) -> None:
    """Pay the once-per-process costs (importing the engine, starting an embedded server, the
    nemeses' helper processes) before the clock starts: a campaign's worker pays them once, not
    per step. One write under each fault: whether the backend passes it is the machine's to say."""
    factory = builder(workdir / "warm-up", DIM)
    harness = Harness(factory)
    try:
        harness.run(Step(Store("warm-up", Random(0))))
        for fault in harness.available_faults():
            points = harness.crash_points(fault)
            with contextlib.suppress(Exception):
                harness.run(Step(Store("warm-up", Random(1)), fault, CrashPoint(points[0]) if points else None))
    finally:
        harness.close()
        factory.destroy()
