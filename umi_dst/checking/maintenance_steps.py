"""How the harness runs and checks a maintenance step (docs/maintenance.md, the ``Maintained`` capability).

A maintenance operation (an index build, a compaction, a clean-up of old versions, a vacuum)
is run like a write: with no fault, under an injected fault, under one of the factory's
nemeses (at a crash point when the nemesis places its faults) or crashed at a crash point of
its file operations. It must never change a result, so the oracle does nothing, and whatever
the fault did, the store is then compared record for record with the oracle (every crash
state too); the harness's count check and the steps that follow check the rest.

A ``Schedule`` step sets one of the backend's automatic schedules and reopens.

Kept apart from ``umi_dst.checking.harness`` so the capability is one module.
"""

from __future__ import annotations

from typing import Any, Protocol

from umi_dst.checking import crash_states
from umi_dst.checking.checks import ContractViolation, equal
from umi_dst.checking.faults import ERROR_AFTER, INJECTED_FAULTS, inject
from umi_dst.contract import Maintained, MaintenanceRefused, WriteCall, declared_schedules
from umi_dst.operations import CrashPoint, Maintain, Schedule, Step

CLEAN = "clean"
"""No fault: the operation ran to its end."""
CUT_OFF = "cut_off"
"""Its fault really interrupted it: raised before it began (``error_before``), broken part-way by
a nemesis, or crashed before its last file operation."""
COMPLETED = "completed"
"""Under a fault that did not interrupt it: the call completed (``error_after``, a nemesis that
struck after it or missed, a crash after its last file operation)."""
REFUSED = "refused"
"""Under a fault that made it refuse to start (``MaintenanceRefused``: PostgreSQL's ``VACUUM``
inside the transaction block a crash point opened)."""
OUTCOMES = (CLEAN, CUT_OFF, COMPLETED, REFUSED)


class Harness(Protocol):
    """What these steps use of ``umi_dst.checking.harness.Harness``, which calls them (named
    here, not imported, so the two modules do not import each other)."""

    backend: Any
    oracle: Any
    factory: Any
    log: Any
    data_dir: Any

    def reopen(self) -> None: ...

    def _compare_every_record(self, where: str, backend: Any = None) -> None: ...

    def _disturb(self) -> None: ...

    def fresh_connection(self, what: str) -> Any: ...

    def crash_inside(self, call: WriteCall, at: CrashPoint | None, raised: Any, check: Any) -> Any: ...


def run(harness: Harness, step: Step) -> str:
    """Run a maintenance step and check that the store still holds the oracle's state;
    return what its fault did to it, one of ``OUTCOMES``."""
    op = step.op
    assert isinstance(op, Maintain)
    declared = tuple(getattr(harness.factory, "maintenance", ()))
    if op.operation not in declared:
        raise ContractViolation(
            f"backend {harness.factory.name!r} declares no maintenance operation {op.operation!r}; it declares {declared}"
        )
    if not isinstance(harness.backend, Maintained):
        raise ContractViolation(f"backend {harness.factory.name!r} declares maintenance but has no maintain()")
    call = WriteCall("maintain", (op.operation,))
    if step.fault == crash_states.CRASH:
        outcome = _crash(harness, call, step.at)
    elif step.fault is not None:
        outcome = _under_fault(harness, call, step.fault, step.at)
    else:
        try:
            call.apply(harness.backend)
        except Exception as exc:
            raise ContractViolation(
                f"maintain({op.operation!r}) raised {type(exc).__name__} with no fault injected: {exc}",
                "success",
                repr(exc),
            ) from exc
        outcome = CLEAN
    harness._compare_every_record(f"after maintain({op.operation!r})")
    return outcome


def schedule(harness: Harness, op: Schedule) -> None:
    """Set one of the factory's automatic schedules, then reopen so the connection follows it."""
    values = declared_schedules(harness.factory).get(op.setting, ())
    if op.value not in values:
        raise ContractViolation(
            f"backend {harness.factory.name!r} declares no schedule {op.setting} = {op.value}; "
            f"it declares {declared_schedules(harness.factory)}"
        )
    harness.factory.schedule(op.setting, op.value)
    harness.reopen()


def _under_fault(harness: Harness, call: WriteCall, fault: str, at: CrashPoint | None) -> str:
    """The operation under an injected fault or a nemesis; a nemesis is healed and the
    harness continues on a fresh connection, as after a write."""
    nemesis = harness.factory.nemeses.get(fault)
    if nemesis is None and fault not in INJECTED_FAULTS:
        raise ContractViolation(f"backend {harness.factory.name!r} declares no nemesis {fault!r}")
    if nemesis is not None:
        harness._disturb()
    try:
        if nemesis is None:
            inject(fault, harness.backend, call)
        elif at is not None:
            nemesis.strike(harness.backend, call, at)
        else:
            nemesis.disturb(harness.backend, call)
    except ContractViolation:
        raise
    except Exception as exc:
        if harness.log:
            harness.log(f"  maintain({call.args[0]!r}) raised under {fault}: {type(exc).__name__}: {exc}")
        if isinstance(exc, MaintenanceRefused):
            return REFUSED
        return COMPLETED if fault == ERROR_AFTER else CUT_OFF
    finally:
        if nemesis is not None:
            nemesis.heal()
            harness.reopen()
    return COMPLETED


def _crash(harness: Harness, call: WriteCall, at: CrashPoint | None) -> str:
    """Crash the process inside the operation: every crash state must open and hold exactly
    the oracle's records; the case continues from the state ``at`` names."""
    what = f"maintain({call.args[0]!r})"
    crash = harness.crash_inside(
        call,
        at,
        lambda exc: f"{what} raised {type(exc).__name__} with no fault injected: {exc}",
        lambda state, total, _: _check_crash_state(harness, f"{what} with a {state.label(total)}"),
    )
    if harness.log:
        harness.log(f"  {crash.states} crash states of {what} checked; continued from the "
                    f"{crash.target.label(crash.total)}")  # fmt: skip
    return COMPLETED if crash.complete else CUT_OFF


def _check_crash_state(harness: Harness, what: str) -> None:
    with harness.fresh_connection(what) as backend:
        equal(f"count() after {what}", backend.count(), harness.oracle.count())
        harness._compare_every_record(f"after {what}", backend)
