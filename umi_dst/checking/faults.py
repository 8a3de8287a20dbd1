"""Injected faults: errors raised around a write, by the harness or by a seeded plan.

``error_before`` raises before the write reaches the backend (nothing applied);
``error_after`` lets the write land and then raises (applied, but reported as failed). Both
leave the outcome indeterminate to the caller, who must read back to learn it (CONTRACT §4).
Backend-specific real faults are nemeses, declared by factories (see ``contract.Nemesis``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from umi_dst.contract import InjectedFault, VectorBackend, WriteCall

ERROR_BEFORE = "error_before"
ERROR_AFTER = "error_after"
INJECTED_FAULTS = (ERROR_BEFORE, ERROR_AFTER)

T = TypeVar("T")


def inject(kind: str, backend: VectorBackend, call: WriteCall) -> None:
    """Perform ``call`` on ``backend`` under the injected fault ``kind``; always raises."""
    if kind == ERROR_AFTER:
        call.apply(backend)
    elif kind != ERROR_BEFORE:
        raise ValueError(f"unknown injected fault {kind!r}; expected one of {INJECTED_FAULTS}")
    raise InjectedFault(f"{kind} injected into {call.method}")


@dataclass
class FaultPlan:
    """Seeded, reproducible write failures for code that runs on top of a backend.

    Each write draws once from a generator seeded with ``seed``: with probability
    ``before_rate`` it fails before being applied, with ``after_rate`` after.
    """

    seed: int
    before_rate: float = 0.0
    after_rate: float = 0.0
    injected: list[str] = field(default_factory=list)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0 <= self.before_rate and 0 <= self.after_rate and self.before_rate + self.after_rate <= 1):
            raise ValueError("fault rates must be non-negative and sum to at most 1")
        self._rng = np.random.default_rng(self.seed)

    def around_write(self, apply: Callable[[], T]) -> T:
        draw = self._rng.random()
        if draw < self.before_rate:
            self.injected.append(ERROR_BEFORE)
            raise InjectedFault(f"{ERROR_BEFORE} (fault plan seed {self.seed}, write {len(self.injected)})")
        result = apply()
        if draw < self.before_rate + self.after_rate:
            self.injected.append(ERROR_AFTER)
            raise InjectedFault(f"{ERROR_AFTER} (fault plan seed {self.seed})")
        return result
