"""A recorded concurrent history: every call's invocation and completion, by client.

Each call is timed with ``time.monotonic_ns()`` just before it starts and just after it
returns or raises. Linux's monotonic clock is one clock for every process, so histories from
threads and from spawned processes compare alike. A call precedes another only when it
completed strictly before the other was invoked; all other pairs are concurrent.

A write that raised (under an injected fault, a nemesis, or cut off by a crash of the store) is
*indeterminate*: it may have taken effect at any moment after its invocation, or not at all
(as Knossos and Porcupine treat a call with no response), unless it raised where its fault
leaves the old state (a crash before its commit): then it never took effect. A read that
raised tells nothing about the store and constrains nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from umi_dst.checking.faults import INJECTED_FAULTS, inject
from umi_dst.checking.harness import describe
from umi_dst.contract import Embedding, Nemesis, VectorBackend, WriteCall
from umi_dst.operations import CrashPoint, Operation, Step, StoreBatch

WRITE_METHODS = ("store", "store_batch", "delete")


@dataclass(frozen=True)
class Planned:
    """One call with concrete arguments, ready to run; plain data, so it can cross a process."""

    op: Operation
    method: str
    args: tuple
    fault: str | None = None
    at: CrashPoint | None = None
    """Where inside the write a nemesis strikes (a crash point), for a placed fault."""


@dataclass(frozen=True)
class Call:
    """One call as it happened: who made it, when, and what came back (a value or an error)."""

    client: int
    planned: Planned
    invoked: int
    completed: int
    value: object = None
    error: str | None = None
    cut_off: bool = False
    """It raised because a fault on another client's call took the store down (a crashed
    server) while it ran: an error the contract allows, so indeterminate, not a failure."""
    never_applied: bool = False
    """A write that raised under a fault placed where the old state is the one outcome (a crash
    before its commit): it must not have taken effect."""

    @property
    def method(self) -> str:
        return self.planned.method

    @property
    def args(self) -> tuple:
        return self.planned.args

    @property
    def is_write(self) -> bool:
        return self.planned.method in WRITE_METHODS

    @property
    def indeterminate(self) -> bool:
        """A write that raised: it may or may not have taken effect."""
        return self.error is not None and self.is_write and not self.never_applied

    @property
    def left_out(self) -> bool:
        """Not part of any linearization: a read that raised (it tells nothing), or a write that
        never took effect."""
        return self.error is not None and (not self.is_write or self.never_applied)

    def precedes(self, other: Call) -> bool:
        return self.completed < other.invoked


@dataclass(frozen=True)
class AnsweredCall(WriteCall):
    """A write handed to a nemesis that keeps what the write returned in this process."""

    answers: list = field(default_factory=list)

    def apply(self, backend: VectorBackend) -> object:
        value = super().apply(backend)
        self.answers.append(value)
        return value


def perform(client: int, planned: Planned, backend: VectorBackend, nemesis: Nemesis | None = None) -> Call:
    """Run one planned call on ``backend`` and record it; never raises for the call's own errors.

    A write with a nemesis fault runs under ``nemesis``, struck at ``planned.at`` and healed
    before the call counts as completed; had the write returned, its answer is kept.
    """
    value: object = None
    error: str | None = None
    invoked = time.monotonic_ns()
    try:
        if planned.fault in INJECTED_FAULTS:
            inject(planned.fault, backend, WriteCall(planned.method, planned.args))
        elif planned.fault is not None:
            value = _under(nemesis, planned, backend)
        else:
            value = getattr(backend, planned.method)(*planned.args)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    completed = time.monotonic_ns()
    return Call(client, planned, invoked, completed, value, error)


def _under(nemesis: Nemesis | None, planned: Planned, backend: VectorBackend) -> object:
    if nemesis is None or planned.at is None:
        raise ValueError(f"{planned.fault!r} is not a nemesis of the backend placed at a crash point")
    call = AnsweredCall(planned.method, planned.args)
    try:
        nemesis.strike(backend, call, planned.at)
    finally:
        nemesis.heal()
    if not call.answers:
        raise RuntimeError(f"{planned.fault} ran the write elsewhere: its answer is not seen")
    return call.answers[-1]


@dataclass(frozen=True)
class History:
    """The store's state before the concurrent part, and every call made during it."""

    dim: int
    initial: Mapping[str, Embedding]
    calls: Sequence[Call]

    @property
    def clients(self) -> int:
        return len({call.client for call in self.calls})

    def overlapping(self) -> int:
        """Calls that overlapped in time with a call of another client: proof the clients met."""
        return sum(
            any(a.client != b.client and not a.precedes(b) and not b.precedes(a) for b in self.calls)
            for a in self.calls
        )

    def describe(self, index: int) -> str:
        """One line: client, time span (ms from the first invocation), call, outcome."""
        call = self.calls[index]
        origin = min(c.invoked for c in self.calls)
        span = f"{(call.invoked - origin) / 1e6:7.3f}-{(call.completed - origin) / 1e6:7.3f} ms"
        if call.error is not None:
            outcome = f"raised {call.error}" + (" (cut off by the crash)" if call.cut_off else "")
            outcome += " (where it cannot have taken effect)" if call.never_applied else ""
        elif isinstance(call.value, np.ndarray):
            outcome = f"-> {self._writers.get(call.value.tobytes(), shown(call.value))}"
        else:
            outcome = f"-> {shown(call.value)}"
        op = call.planned.op
        what = f"store_batch(ids={[id for id, _ in op.items]!r})" if isinstance(op, StoreBatch) else describe(Step(op))
        fault = f" under fault {call.planned.fault}" if call.planned.fault else ""
        if call.planned.at is not None:
            fault += f" at {call.planned.at.point} k={call.planned.at.k}"
        return f"#{index:<3} client {call.client}  {span}  {what}{fault} {outcome}"

    @cached_property
    def _writers(self) -> dict[bytes, str]:
        """Stored vectors by their bytes, named after the call that wrote them."""
        names = {vector.tobytes(): f"the value of {id!r} after the prefix" for id, vector in self.initial.items()}
        for index, call in enumerate(self.calls):
            if call.method == "store":
                names[call.args[1].tobytes()] = f"the vector #{index} stored"
            elif call.method == "store_batch":
                names.update(
                    (vector.tobytes(), f"the vector #{index} stored for {id!r}") for id, vector in call.args[0]
                )
        return names


def shown(value: object) -> str:
    """A short, readable form of a returned value."""
    if isinstance(value, np.ndarray):
        head = ", ".join(f"{v:.4g}" for v in value.ravel()[:3].tolist())
        return f"vector[{head}{', ...' if value.size > 3 else ''}]"
    if isinstance(value, list):
        return "[" + ", ".join(f"{getattr(r, 'id', r)!r}:{getattr(r, 'score', float('nan')):.4f}" for r in value) + "]"
    return repr(value)
