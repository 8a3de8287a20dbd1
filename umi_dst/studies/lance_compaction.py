"""Lance compaction policies side by side: single writes and reads on stores driven in lockstep.

Each policy (compact every N commits, or never) gets a store of its own, and every store does
step *i* before any does step *i + 1*, the order rotating, so a change of machine load falls on
all alike. A step is a ``store`` and a ``count`` (a long test case's opening run of single
writes over a few ids); every fifth step adds a read mix (``get``, ``exists`` of a missing id,
a limit-10 ``search``). A workload may first load ``bulk`` records in one batch. Every store
must end with the same records. Run ``python -m umi_dst.studies.lance_compaction [--every
8,32,0]``; it writes ``reports/lance-compaction.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from umi_dst.backends.lance.store import CompactionPolicy, IndexPlan, LanceStore, LanceVectorBackend
from umi_dst.bench.host import machine_facts
from umi_dst.bench.timing import seconds
from umi_dst.studies import report_files

READ_EVERY = 5


@dataclass(frozen=True)
class Workload:
    writes: int
    ids: int
    dim: int
    bulk: int = 0
    approximate: bool = False

    def label(self) -> str:
        mode = "approximate" if self.approximate else "exact"
        bulk = f"{self.bulk:,} x {self.dim} bulk then " if self.bulk else ""
        return f"{mode}, {bulk}{self.writes} writes over {self.ids} ids, dim {self.dim}"


WORKLOADS = (Workload(500, 50, 8), Workload(300, 50, 8, approximate=True), Workload(200, 50, 384, bulk=2000))


def policy_name(every: int) -> str:
    return f"every {every}" if every else "never"


def run(workload: Workload, periods: list[int], seed: int = 0) -> dict[str, dict]:
    """Per policy: mean ms of a write step and of a read mix, and the total seconds."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="umi-lance-compaction-") as scratch:
        stores = {
            policy_name(every): LanceVectorBackend(
                LanceStore(
                    str(Path(scratch) / f"p{every}"),
                    workload.dim,
                    index=IndexPlan() if workload.approximate else None,
                    compaction=CompactionPolicy(every) if every else None,
                )
            )
            for every in periods
        }
        names = list(stores)
        writes: dict[str, list[float]] = {name: [] for name in names}
        reads: dict[str, list[float]] = {name: [] for name in names}
        try:
            if workload.bulk:
                batch = [
                    (f"bulk-{i}", vector)
                    for i, vector in enumerate(rng.standard_normal((workload.bulk, workload.dim), dtype=np.float32))
                ]
                for name in names:
                    stores[name].store_batch(batch)
            for step in range(workload.writes):
                vector = rng.standard_normal(workload.dim, dtype=np.float32)
                query = rng.standard_normal(workload.dim, dtype=np.float32)
                order = names[step % len(names) :] + names[: step % len(names)]
                id = f"run-{step % workload.ids}"
                for name in order:
                    backend = stores[name]
                    writes[name].append(seconds(lambda: (backend.store(id, vector), backend.count()))[0])
                if step % READ_EVERY == READ_EVERY - 1:
                    for name in order:
                        backend = stores[name]
                        reads[name].append(
                            seconds(lambda: (backend.get(id), backend.exists("missing"), backend.search(query, 10)))[0]
                        )
            contents = {name: stores[name].scan() for name in names}
        finally:
            for backend in stores.values():
                backend.close()
    first = contents[names[0]]
    for name, (ids, vectors) in contents.items():
        if sorted(ids) != sorted(first[0]) or not np.array_equal(
            vectors[np.argsort(ids)], first[1][np.argsort(first[0])]
        ):
            raise AssertionError(
                f"the store compacting {name} ends with other records than the one compacting {names[0]}"
            )
    return {
        name: {
            "write_ms": 1e3 * statistics.mean(writes[name]),
            "last_writes_ms": 1e3 * statistics.mean(writes[name][-100:]),
            "read_ms": 1e3 * statistics.mean(reads[name]) if reads[name] else 0.0,
            "total_s": sum(writes[name]) + sum(reads[name]),
        }
        for name in names
    }


def write_report(
    results: list[tuple[Workload, dict[str, dict]]], periods: list[int], facts: dict, directory: Path
) -> Path:
    data = {"host": facts, "periods": periods, "results": [{"workload": asdict(w), "policies": r} for w, r in results]}
    lines = [
        "# Lance compaction policies side by side",
        "",
        f"Produced by `python -m umi_dst.studies.lance_compaction --every {','.join(map(str, periods))}`. One store per policy, "
        "driven in lockstep (each does step *i* before any does step *i + 1*, the order rotating). A write step is a `store` "
        f"and a `count`; every {READ_EVERY}th step adds a read mix (`get`, `exists` of a missing id, a limit-10 `search`). "
        "Mean milliseconds per step, the mean of the last 100 write steps, and the total seconds of the run. Every store "
        "ended with the same records.",
        "",
        f"Host: {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in facts['load_average'])} when the run ended: only figures of one workload compare.",
        "",
        "| workload | policy | write ms | last 100 writes ms | read mix ms | total s |",
        "|---|---|---|---|---|---|",
    ]
    for workload, policies in results:
        best = min(policies.values(), key=lambda figures: figures["total_s"])["total_s"]
        for name, f in policies.items():
            total = f"**{f['total_s']:.1f}**" if f["total_s"] == best else f"{f['total_s']:.1f}"
            lines.append(
                f"| {workload.label()} | {name} | {f['write_ms']:.1f} | {f['last_writes_ms']:.1f} | {f['read_ms']:.1f} | {total} |"
            )
    return report_files.write(directory / "lance-compaction", data, "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m umi_dst.studies.lance_compaction", description=__doc__)
    parser.add_argument("--every", default="8,32,0", help="compaction periods in commits, 0 for never (default 8,32,0)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    try:
        periods = [int(part) for part in args.every.split(",")]
    except ValueError:
        parser.error(f"--every must be comma-separated integers, got {args.every!r}")
    if any(every < 0 for every in periods) or len(set(periods)) != len(periods):
        parser.error(f"--every must be distinct periods of 0 (never) or more commits, got {args.every!r}")
    results = []
    for workload in WORKLOADS:
        results.append((workload, run(workload, periods)))
        print(workload.label(), json.dumps(results[-1][1]), flush=True)
    print(write_report(results, periods, machine_facts(), args.report_dir))


if __name__ == "__main__":
    main()
