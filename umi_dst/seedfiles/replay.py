"""Replay a seed file step by step through the same ``Harness`` the machine used.

A seed file is data: which backend it replays on is decided by the person running it. Its own
``backend`` field is used only when it is a registered name, or when the caller allows it
(``backend_for``); a ``module:attribute`` from a file is otherwise refused, never imported.
``replay`` itself trusts the seed object it is given (made in this process, or checked so).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from umi_dst import registry
from umi_dst.campaign import leftovers
from umi_dst.checking.harness import Harness
from umi_dst.contract import BackendFactory, declared_maintenance, declared_schedules
from umi_dst.operations import Maintain, Schedule, Step
from umi_dst.seedfiles import seeds

ALLOW_SEED_BACKEND_FLAG = "--allow-seed-backend"


class SeedBackendNotAllowed(registry.UnknownBackend):
    """A seed file names a ``module:attribute`` backend that nobody on the command line named."""


@dataclass
class ReplayResult:
    backend: str
    reproduced: bool
    at_step: int | None
    """Index of the step that failed, ``None`` for the final checks (or when it passed)."""
    message: str
    error: BaseException | None = None

    def summary(self) -> str:
        if not self.reproduced:
            return f"PASS on {self.backend}: every step and the final checks agree with the oracle"
        where = "the final checks" if self.at_step is None else f"step {self.at_step}"
        return f"FAIL on {self.backend} at {where}: {self.message}"


def backend_for(seed_backend: str, backend: str | None = None, allow_seed_backend: bool = False) -> str:
    """The spec to replay on: the caller's ``backend``, else the seed's if it may be resolved.

    A seed's own ``module:attribute`` would import that module (running its top-level code)
    and call the attribute; a file from elsewhere must not get to choose that.
    """
    if backend is not None:
        return backend
    if registry.is_registered(seed_backend) or allow_seed_backend:
        return seed_backend
    raise SeedBackendNotAllowed(
        f"the seed names backend {seed_backend!r}, which is not a registered backend; replaying it would "
        f"import and call code the file chose, which is not allowed by default. Name it yourself with "
        f"--backend {seed_backend}, pass {ALLOW_SEED_BACKEND_FLAG} if you trust this file, "
        f"or replay on a registered backend (--backend sim)"
    )


def check_runnable(steps: Sequence[Step], harness: Harness, path: str = "steps") -> None:
    """Every fault (and crash point) a seed places, and every maintenance operation it runs,
    must be one the backend offers: checked before any step runs."""
    offered = harness.available_faults()
    maintenance = declared_maintenance(harness.factory)
    schedules = declared_schedules(harness.factory)
    for i, step in enumerate(steps):
        if isinstance(step.op, Maintain) and step.op.operation not in maintenance:
            raise seeds.MalformedSeed(
                f"field {path}[{i}].operation: backend {harness.factory.name!r} declares no maintenance operation "
                f"{step.op.operation!r} (it declares {', '.join(maintenance) or 'none'})"
            )
        if isinstance(step.op, Schedule) and step.op.value not in schedules.get(step.op.setting, ()):
            raise seeds.MalformedSeed(
                f"field {path}[{i}]: backend {harness.factory.name!r} declares no schedule "
                f"{step.op.setting} = {step.op.value} (it declares {schedules or 'none'})"
            )
        if step.fault is not None and step.fault not in offered:
            raise seeds.MalformedSeed(
                f"field {path}[{i}].fault: backend {harness.factory.name!r} offers no fault {step.fault!r} "
                f"(it offers {', '.join(offered)})"
            )
        if step.at is not None and step.at.point not in (points := harness.crash_points(step.fault)):
            raise seeds.MalformedSeed(
                f"field {path}[{i}].at.point: fault {step.fault!r} has no crash point {step.at.point!r} "
                f"(it has {', '.join(points) or 'none'})"
            )


def check_clients_can_share(factory: BackendFactory, clients_as: str) -> None:
    """Client processes need a store other processes reach; an in-memory one is refused."""
    if clients_as == "processes" and not getattr(factory, "shared_across_processes", True):
        raise seeds.MalformedSeed(
            f"field clients_as: backend {factory.name!r} keeps its store in one process's memory, so client "
            f"processes cannot share it (each would see its own empty copy); replay with clients as threads"
        )


def replay_file(
    path: Path,
    backend: str | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] | None = None,
    allow_seed_backend: bool = True,
) -> ReplayResult:
    """Replay ``path`` against ``backend`` (default: the seed's own); never raises on a failure.

    ``allow_seed_backend`` is for files this program wrote; the CLI passes what the user chose.
    """
    seed = seeds.load(path)
    return replay(seed, backend_for(seed.backend, backend, allow_seed_backend), workdir, log)


def replay(
    seed: seeds.SeedFile,
    backend: str | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ReplayResult:
    spec = backend or seed.backend
    with leftovers.scratch_directory("replay", workdir) as scratch:
        factory = registry.build(spec, scratch, seed.dim)
        try:
            harness = Harness(factory, log=log)
            try:
                check_runnable(seed.steps, harness)
                at_step: int | None = None
                try:
                    for at_step, step in enumerate(seed.steps):  # noqa: B007 (the except clause reads it)
                        harness.run(step)
                    at_step = None
                    harness.finish()
                except Exception as error:
                    message = f"{type(error).__name__}: {getattr(error, 'message', error)}"
                    if log:
                        log(f"  diverged: {message}")
                    return ReplayResult(spec, True, at_step, message, error)
            finally:
                harness.close()
        finally:
            factory.destroy()
    return ReplayResult(spec, False, None, "")


def reproduces_recorded_failure(seed: seeds.SeedFile, result: ReplayResult) -> bool:
    """Whether a replay failed the way the seed recorded: at its step, with its kind of error.

    A seed expected to fail is evidence of one bug; any exception at any step is not. The
    kind is the error's class and the check that raised it (the message's head, with ids,
    numbers and what follows the first colon left out), so the same check failing with other
    values on another backend still counts.
    """
    if not result.reproduced or result.at_step != seed.failure.get("step"):
        return False
    message = str(getattr(result.error, "message", result.error))
    recorded = failure_kind(seed.failure.get("error", ""), seed.failure.get("message", ""))
    return failure_kind(type(result.error).__name__, message) == recorded


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|\bnan\b|\binf\b")


def failure_kind(error: str, message: str) -> tuple[str, str]:
    """``(error class, check)``: the message without quoted values, numbers and details."""
    head = _QUOTED.sub("", message).split(": ", 1)[0]
    return error, " ".join(_NUMBER.sub("", head).split())
