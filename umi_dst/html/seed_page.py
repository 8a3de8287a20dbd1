"""The page of one seed file, whatever its kind, written beside the seed or where asked.

A sequential seed is replayed for its trace (``trace``), with a crash panel when a step crashes
the process inside a write. A parallel seed shows its recorded run when it holds one and is
drawn on its own backend (the same picture on every machine); otherwise one live run of its
program on the backend. Its verdict is the checker's, with the longest linearizable prefix
found by bisection (linearizability is closed under prefixes).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from umi_dst import registry
from umi_dst.campaign.leftovers import scratch_directory
from umi_dst.checking.checks import ContractViolation
from umi_dst.concurrency import linearizability
from umi_dst.concurrency.history import History
from umi_dst.concurrency.parallel import (
    ParallelProgram,
    UnexpectedError,
    check_program,
    judge,
    recorded_history,
)
from umi_dst.html import crash, page, parallel, sequential, trace
from umi_dst.seedfiles import parallel_seeds, seeds
from umi_dst.seedfiles.replay import backend_for

SUFFIX = ".html"


def page_path(seed_path: Path) -> Path:
    """Where the page of a seed goes beside it: the same name, ``.html``."""
    return Path(seed_path).with_suffix(SUFFIX)


def render_file(path: Path, out: Path, backend: str | None = None, allow_seed_backend: bool = True) -> Path:
    """Render the seed at ``path`` replayed on ``backend`` (default its own) into ``out``."""
    if parallel_seeds.is_parallel_seed(path):
        seed = parallel_seeds.load(path)
        text = render_parallel(seed, backend_for(seed.backend, backend, allow_seed_backend), Path(path).name)
    else:
        seed = seeds.load(path)
        text = render_sequential(seed, backend_for(seed.backend, backend, allow_seed_backend), Path(path).name)
    return page.write(Path(out), text)


def render_sequential(seed: seeds.SeedFile, spec: str, name: str) -> str:
    traced = trace.trace(seed.steps, spec, seed.dim)
    at = crash.crash_step(seed.steps)
    panel = "" if at is None else crash.panel(seed.steps, at, spec, seed.dim, traced.message)
    title = f"seed {name} on {spec}" + ("" if at is None else f" (crash point at step {at})")
    return sequential.render(traced, title, seed.description, panel, crash.STYLE if panel else "")


def render_parallel(seed: parallel_seeds.ParallelSeed, spec: str, name: str) -> str:
    if seed.history is not None and spec == seed.backend:
        history, atol, exact, source = recorded_history(seed), seed.history.atol, seed.history.exact, "the recorded run"
    else:
        history, atol, exact = _live_run(seed, spec)
        source = "one live run (the seed holds no recorded run on this backend)"
    core: list[int] = []
    optional: list[int] = []
    prefix = None
    try:
        judge(history, atol=atol, exact=exact)
        verdict = f"PASS on {spec} ({source}): {len(history.calls)} calls by {history.clients} clients can be ordered"
    except linearizability.NotLinearizable as violation:
        core, optional = violation.core, violation.optional
        prefix = longest_linearizable_prefix(history, atol=atol, exact=exact)
        verdict = f"FAIL on {spec} ({source}): {violation}"
    except UnexpectedError as violation:  # a call raised with no fault: it is the one marked
        core = [
            next(
                i
                for i, c in enumerate(history.calls)
                if c.error is not None and c.planned.fault is None and not c.cut_off
            )
        ]
        verdict = f"FAIL on {spec} ({source}): {violation}"
    title = f"parallel seed {name} on {spec}, {len(seed.clients)} clients as {seed.clients_as}"
    return parallel.render(history, title, seed.description, verdict, core, optional, prefix)


def _live_run(seed: parallel_seeds.ParallelSeed, spec: str) -> tuple[History, float, bool]:
    program = ParallelProgram(tuple(seed.prefix), tuple(tuple(steps) for steps in seed.clients))
    with scratch_directory("html-parallel") as scratch:
        factory = registry.build(spec, scratch, seed.dim)
        try:
            try:
                history = check_program(factory, program, seed.clients_as)
            except ContractViolation as violation:
                history = violation.history
            return history, factory.score_atol, not factory.approximate
        finally:
            factory.destroy()


def longest_linearizable_prefix(history: History, *, atol: float, exact: bool) -> int:
    """How many calls, by invocation, can be ordered (the rest dropped); a search over its
    budget counts as not orderable, so the figure is a lower bound then."""
    order = sorted(range(len(history.calls)), key=lambda i: history.calls[i].invoked)
    low, high = 0, len(order)  # low can be ordered, high cannot
    while high - low > 1:
        middle = (low + high) // 2
        try:
            verdict = linearizability.decide(
                history, atol=atol, exact=exact, dropped=order[middle:], max_states=linearizability.EXPLAIN_BUDGET
            )
            orderable = verdict.linearizable
        except linearizability.SearchBudgetExceeded:
            orderable = False
        low, high = (middle, high) if orderable else (low, middle)
    return low


def write_beside(seed_path: Path) -> Path | None:
    """Write the page of a seed just saved beside it (``page_path``), replayed on the seed's
    own backend. The seed is the finding: a page that cannot be rendered is a warning, never
    an error that would lose it."""
    try:
        return render_file(seed_path, page_path(seed_path))
    except Exception as error:
        warnings.warn(f"no HTML page for {seed_path}: {type(error).__name__}: {error}", stacklevel=2)
        return None
