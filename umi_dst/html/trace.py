"""A sequential seed replayed for a page: per step what was asked, both answers, the check.

The replay runs the seed's steps through the same ``Harness`` as ``umi-dst replay``, so the
verdict is the replay's own. After each read the page's recorder asks both sides the same read
again (reads change nothing) to show the answers the check compared; after each step it notes
the oracle's ids, what the harness logged (faults, crash states, how an indeterminate write
resolved) and, for a search, both ranked lists with the tolerance band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from umi_dst import registry
from umi_dst.campaign import leftovers
from umi_dst.checking.harness import Harness, describe
from umi_dst.concurrency.history import shown
from umi_dst.operations import Exists, Get, Search, Step
from umi_dst.seedfiles.replay import check_runnable

SHOWN_IDS = 200
"""Ids of the store listed per step; a bigger store is shown by its count and its first ids."""
RANKED_EXTRA = 5
"""Oracle records listed past a search's limit, so one left out just below the cut shows."""

CHECKS = {
    "get": "bit-exact vector (checks.bit_exact)",
    "exists": "equal booleans (checks.equal)",
    "count": "equal counts (checks.equal)",
    "search": "search under the tie rule: ids exist, scores within the tolerance, order and top-k (checks.search_results)",
    "invalid": "raises InvalidInput and changes nothing",
    "reopen": "count() on the new connection",
    "abandon": "count() on the new connection",
    "maintain": "every record and the count as before: maintenance changes no result",
    "schedule": "count() on the new connection",
}
WRITE_CHECK = "count() after the write; under a fault: all old or all new on read-back"


@dataclass
class StepTrace:
    index: int
    what: str
    kind: str
    fault: str | None
    log: list[str] = field(default_factory=list)
    failed: str | None = None
    backend: str = ""
    oracle: str = ""
    check: str = ""
    ids: list[str] = field(default_factory=list)
    count: int = 0
    ranked: dict | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", [])}


@dataclass
class Trace:
    backend: str
    steps: list[StepTrace]
    failed_at: int | None
    """Index of the failing step; ``len(steps)`` for the final checks; ``None`` when it passed."""
    message: str
    atol: float
    final_log: list[str] = field(default_factory=list)


def trace(steps: Sequence[Step], spec: str, dim: int, workdir: Path | None = None) -> Trace:
    """Replay ``steps`` on ``spec`` and record each one; never raises on a failure."""
    with leftovers.scratch_directory("html", workdir) as scratch:
        factory = registry.build(spec, scratch, dim)
        try:
            lines: list[str] = []
            harness = Harness(factory, log=lines.append)
            try:
                check_runnable(steps, harness)
                return _run(harness, steps, spec, lines)
            finally:
                harness.close()
        finally:
            factory.destroy()


def _run(harness: Harness, steps: Sequence[Step], spec: str, lines: list[str]) -> Trace:
    traced: list[StepTrace] = []
    for index, step in enumerate(steps):
        lines.clear()
        record = StepTrace(index, describe(step), step.op.kind, step.fault, check=CHECKS.get(step.op.kind, WRITE_CHECK))
        traced.append(record)
        try:
            harness.run(step)
        except Exception as error:
            record.failed = f"{type(error).__name__}: {getattr(error, 'message', error)}"
        record.log = [line.strip() for line in lines[1:]]  # the first is the step itself
        _answers(harness, step, record)
        if record.failed:
            return Trace(spec, traced, index, record.failed, harness.factory.score_atol)
    lines.clear()
    try:
        harness.finish()
    except Exception as error:
        message = f"{type(error).__name__}: {getattr(error, 'message', error)}"
        return Trace(spec, traced, len(steps), message, harness.factory.score_atol, list(lines))
    return Trace(spec, traced, None, "", harness.factory.score_atol, list(lines))


def _answers(harness: Harness, step: Step, record: StepTrace) -> None:
    """Both sides' answers to the step's read (asked again), and the store's ids after it."""
    op, backend, oracle = step.op, harness.backend, harness.oracle
    ids = oracle.ids()
    record.ids, record.count = ids[:SHOWN_IDS], len(ids)
    try:
        if isinstance(op, Get):
            record.backend, record.oracle = shown(backend.get(op.id)), shown(oracle.get(op.id))
        elif isinstance(op, Exists):
            record.backend, record.oracle = repr(backend.exists(op.id)), repr(oracle.exists(op.id))
        elif isinstance(op, Search):
            query = harness.embedding(op.query)
            got = backend.search(query, op.limit)
            record.ranked = _ranked(got, oracle, query, op.limit, harness.factory.score_atol)
            record.backend, record.oracle = f"{len(got)} results", f"{min(op.limit, len(ids))} results"
        else:
            record.backend, record.oracle = f"count() = {backend.count()}", f"count() = {oracle.count()}"
    except Exception as error:  # the answer that failed the check: shown as it came
        record.backend = record.backend or f"raised {type(error).__name__}: {error}"


def _ranked(got: list, oracle, query, limit: int, atol: float) -> dict:
    """The backend's list and the oracle's best, each ``[id, score]``; the oracle's with the
    band of scores within ``atol`` of its ``limit``-th (any of those may be returned: a tie)."""
    ids, scores = oracle.scores(query)
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[: limit + RANKED_EXTRA]
    best = [[ids[i], float(scores[i])] for i in order]
    cut = best[min(limit, len(best)) - 1][1] if best else None
    return {
        "backend": [
            [getattr(r, "id", repr(r)), _score(getattr(r, "score", None))] for r in got[: limit + RANKED_EXTRA]
        ],
        "oracle": best,
        "limit": limit,
        "band": None if cut is None else [cut - atol, cut + atol],
    }


def _score(score: object) -> object:
    return score if isinstance(score, float) else repr(score)
