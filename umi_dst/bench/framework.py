"""The harness's own cost: contract-machine steps per second, next to a machine that does nothing.

The contract machine runs through the same code path as ``umi-dst run``; its factory is
wrapped so every backend call is timed, which splits a step's time into the backend's share
and the framework's (Hypothesis generation, the oracle, the checks). The bare machine has
one rule with no arguments and no body, so its steps per second is Hypothesis's ceiling.
"""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from umi_dst import machine, registry
from umi_dst.bench.timing import seconds

DIM = 16
"""Small, so the figure is about the framework and the backend's per-call cost, not arithmetic."""

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
    """Steps per second of a Hypothesis machine whose single rule does nothing."""
    counter = {"steps": 0}

    class Bare(RuleBasedStateMachine):
        @rule()
        def step(self) -> None:
            counter["steps"] += 1

    elapsed, _ = seconds(lambda: run_state_machine_as_test(Bare, settings=machine_settings(examples, steps)))
    return {"examples": examples, "steps": counter["steps"], "seconds": elapsed, "steps_per_s": counter["steps"] / elapsed}


def contract_machine(spec: str, workdir: Path, examples: int, steps: int) -> dict:
    """Steps per second of the full contract machine on ``spec``, and the backend's share of the time."""
    clock = _BackendClock(registry.resolve(spec))
    base = machine.contract_machine(clock.build, dim=DIM, workdir=workdir)
    counter = {"steps": 0}

    class Counted(base):
        def run(self, step) -> None:
            counter["steps"] += 1
            super().run(step)

    elapsed, _ = seconds(lambda: run_state_machine_as_test(Counted, settings=machine_settings(examples, steps)))
    return {
        "examples": base.record.examples,
        "steps": counter["steps"],
        "seconds": elapsed,
        "steps_per_s": counter["steps"] / elapsed,
        "backend_calls": clock.calls,
        "backend_seconds": clock.seconds,
        "backend_share": clock.seconds / elapsed,
    }


class _BackendClock:
    """Builds factories whose backends add the wall time of every contract call to one total."""

    def __init__(self, builder) -> None:
        self._builder = builder
        self.calls = 0
        self.seconds = 0.0

    def build(self, workdir: Path, dim: int):
        return _TimedFactory(self._builder(workdir, dim), self)

    def time(self, call):
        start = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


class _TimedFactory:
    """The wrapped factory with ``open()`` (and its time) going through the clock."""

    def __init__(self, inner, clock: _BackendClock) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def open(self):
        return _TimedBackend(self._clock.time(self._inner.open), self._clock)


class _TimedBackend:
    def __init__(self, inner, clock: _BackendClock) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str):
        target = getattr(self._inner, name)
        if name not in BACKEND_METHODS:
            return target
        return lambda *args, **kwargs: self._clock.time(lambda: target(*args, **kwargs))
