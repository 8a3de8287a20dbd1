"""Benchmark of the linearizability checker: time to decide histories of 10, 50 and 200 calls
from 4 clients, recorded from real concurrent runs.

Histories come from LanceDB and from the correct locked Sim (linearizable: the checker must
find an order) and from the delete-then-insert upsert mutant (usually not: the checker must
exhaust the search, then explain). Clients run as threads; the Sim-based stores add a
simulated round trip per call, so their calls overlap as they do against a server. Run ``python -m umi_dst.studies.linearizability``; it
writes ``reports/linearizability-bench.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from umi_dst import registry
from umi_dst.concurrency import linearizability
from umi_dst.concurrency.history import History
from umi_dst.concurrency.parallel import ParallelProgram, run_program
from umi_dst.operations import Count, Delete, Exists, Get, Search, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.studies import report_files

SIZES = (10, 50, 200)
CLIENTS = 4
KEYS = ("a", "b", "c", "d", "e")
_stores = itertools.count()
BACKENDS = {
    "lance": "lance",
    "locked Sim (correct)": "umi_dst.selftest.concurrency_mutants:locked_sim",
    "delete-then-insert upsert (bug)": "umi_dst.selftest.concurrency_mutants:delete_then_insert_upsert",
}


@dataclass
class Measurement:
    backend: str
    size: int
    """Client calls in the history (the read-back calls after the clients are not counted)."""
    calls: int
    """All calls the checker saw, read-back included."""
    overlapping: int
    linearizable: bool
    decide_ms: float
    states: int
    explain_ms: float | None
    core: int | None


def random_program(rng: np.random.Generator, size: int) -> ParallelProgram:
    """A prefix storing every key, then ``size`` calls split over 4 clients (half writes)."""

    def op():
        key = str(rng.choice(KEYS))
        kind = rng.integers(0, 8)
        seed = int(rng.integers(0, 2**31))
        if kind == 0:
            return Store(key, Random(seed))
        if kind == 1:
            return Delete(key)
        if kind == 2:
            return StoreBatch(((key, Random(seed)), (str(rng.choice(KEYS)), Random(seed + 1))))
        if kind == 3:
            return Store(key, Random(seed))
        return [Get(key), Exists(key), Count(), Search(Random(seed), int(rng.integers(1, 4)))][kind - 4]

    prefix = tuple(Step(Store(key, Random(i))) for i, key in enumerate(KEYS))
    clients = tuple(tuple(Step(op()) for _ in range(size // CLIENTS)) for _ in range(CLIENTS))
    return ParallelProgram(prefix, clients)


def record(spec: str, program: ParallelProgram, workdir: Path) -> History:
    factory = registry.build(spec, workdir / f"store-{next(_stores)}", 8)
    try:
        return run_program(factory, program)
    finally:
        factory.destroy()


def measure(backend: str, spec: str, size: int, seed: int, workdir: Path) -> Measurement:
    history = record(spec, random_program(np.random.default_rng([seed, size]), size), workdir)
    started = time.perf_counter()
    verdict = linearizability.decide(history, atol=1e-4, exact=True)
    decide_ms = (time.perf_counter() - started) * 1000
    explain_ms = core = None
    if not verdict.linearizable:
        started = time.perf_counter()
        found, _ = linearizability.explain(history, atol=1e-4, exact=True)
        explain_ms, core = (time.perf_counter() - started) * 1000, len(found)
    return Measurement(
        backend,
        size,
        len(history.calls),
        history.overlapping(),
        verdict.linearizable,
        decide_ms,
        verdict.states,
        explain_ms,
        core,
    )


def run(histories: int) -> list[Measurement]:
    results = []
    with tempfile.TemporaryDirectory(prefix="umi-linbench-") as scratch:
        for backend, spec in BACKENDS.items():
            for size in SIZES:
                for seed in range(histories):
                    results.append(measure(backend, spec, size, seed, Path(scratch)))
    return results


def _summary_rows(results: list[Measurement]) -> list[str]:
    rows = []
    for backend in BACKENDS:
        for size in SIZES:
            group = [m for m in results if m.backend == backend and m.size == size]
            if not group:
                continue  # a run over some backends or sizes only
            decide = [m.decide_ms for m in group]
            explain = [m.explain_ms for m in group if m.explain_ms is not None]
            cores = sorted({m.core for m in group if m.core is not None})
            rows.append(
                f"| {backend} | {size} | {statistics.median(m.calls for m in group):.0f} "
                f"| {statistics.median(m.overlapping for m in group):.0f} "
                f"| {sum(m.linearizable for m in group)}/{len(group)} "
                f"| {statistics.median(decide):.1f} | {max(decide):.1f} "
                f"| {statistics.median(m.states for m in group):.0f} | {max(m.states for m in group)} "
                f"| {f'{statistics.median(explain):.0f} / {max(explain):.0f}' if explain else '-'} "
                f"| {', '.join(map(str, cores)) or '-'} |"
            )
    return rows


def write_report(results: list[Measurement], directory: Path, histories: int) -> Path:
    host = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    data = {"host": host, "histories_per_cell": histories, "measurements": [asdict(m) for m in results]}
    lines = [
        "# Linearizability checker: time to decide",
        "",
        f"{histories} histories per row, each recorded from a real concurrent run: a prefix storing "
        f"{len(KEYS)} ids, then {CLIENTS} client threads sharing those ids (half the calls writes), then "
        "a fresh connection reading every id back. *size* is the number of client calls; *calls* adds "
        "the read-back. *overlapping* counts calls that overlapped a call of another client. "
        "*states* is the number of (linearized set, model state) configurations the search visited. "
        "A non-linearizable history is then explained (a minimal set of calls that cannot be ordered); "
        "*explain* is the time that took and *core* that set's size.",
        "",
        f"Host: Python {host['python']}, {host['cpus']} CPUs ({host['machine']}), shared with other work.",
        "",
        "| backend | size | calls | overlapping | linearizable | decide median ms | decide max ms "
        "| states median | states max | explain ms median / max | core sizes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *_summary_rows(results),
        "",
    ]
    return report_files.write(directory / "linearizability-bench", data, "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m umi_dst.studies.linearizability", description=__doc__)
    parser.add_argument("--histories", type=int, default=5, help="histories per backend and size (default 5)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    print(write_report(run(args.histories), args.report_dir, args.histories))


if __name__ == "__main__":
    main()
