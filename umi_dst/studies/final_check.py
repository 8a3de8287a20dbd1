"""Cost of the harness's complete checks per test case: the final comparison of every record,
the read-back of a failed batch, and the recall battery, on Lance and PostgreSQL.

For each backend, size and dimension: a fresh store is loaded with random vectors (the oracle
with the same), then, on a fresh connection, the harness's own code is timed: the final
comparison (one ``scan``), the same with one ``get`` per id (the fallback for a backend without
``scan``), the old check's 256 sampled gets, the read-back of a failed 300-item batch, and, in
approximate mode, the recall battery with its recall. Run
``python -m umi_dst.studies.final_check``; it writes ``reports/final-check-cost.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from umi_dst import registry
from umi_dst.bench.host import machine_facts
from umi_dst.checking import checks, recall_battery
from umi_dst.checking.harness import Harness
from umi_dst.recipes import random_matrix
from umi_dst.studies import report_files

SPECS = ("lance", "postgres", "lance-approx", "postgres-approx")
SIZES = (1_000, 10_000)
DIMS = (8, 1536)
FAILED_BATCH = 300
OLD_SAMPLE = 256
GETS_TIMED = 500
"""The fallback of one ``get`` per id is timed on this many ids, evenly spread, and scaled to all."""


def _seconds(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs (the machine is shared: see the load in the report)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _gets(harness: Harness, ids: list[str]) -> None:
    for id in ids:
        checks.bit_exact(f"get({id!r})", harness.backend.get(id), harness.oracle.get(id))


def measure(spec: str, n: int, dim: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="umi-final-check-") as scratch:
        factory = registry.build(spec, Path(scratch), dim)
        harness = Harness(factory)
        try:
            vectors = random_matrix(n, n, dim)
            items = [(f"record-{i}", vectors[i]) for i in range(n)]
            harness.backend.store_batch(items)
            harness.oracle.store_batch(items)
            harness.reopen()
            ids = harness.oracle.ids()
            step = len(ids) / OLD_SAMPLE
            row: dict = {"spec": spec, "n": n, "dim": dim}
            row["final_scan_s"] = _seconds(lambda: harness._compare_every_record("on a fresh connection"), repeat)
            batch = ids[-FAILED_BATCH:]
            row["read_back_batch_s"] = _seconds(lambda: harness.stored(harness.backend, batch), repeat)
            if not factory.approximate:
                row["old_sample_gets_s"] = _seconds(
                    lambda: _gets(harness, [ids[int(i * step)] for i in range(OLD_SAMPLE)]), 1
                )
                timed = ids[:: max(1, len(ids) // GETS_TIMED)]
                row["final_gets_s"] = _seconds(lambda: _gets(harness, timed), 1) * len(ids) / len(timed)
                row["read_back_batch_gets_s"] = _seconds(lambda: _gets(harness, batch), 1)
            else:
                started = time.perf_counter()
                report = recall_battery.run(harness.backend, harness.oracle, factory.score_atol)
                row["battery_s"] = time.perf_counter() - started
                row["recall_typical"] = sum(report.typical) / len(report.typical)
                row["recall_adversarial"] = sum(report.adversarial) / len(report.adversarial)
            return row
        finally:
            harness.close()
            factory.destroy()


def _ms(row: dict, key: str) -> str:
    return f"{row[key] * 1000:,.0f}" if key in row else "-"


def write_report(rows: list[dict], facts: dict, directory: Path) -> Path:
    data = {"host": facts, "rows": rows}
    lines = [
        "# Cost of the complete final check and read-back per test case",
        "",
        "Produced by `python -m umi_dst.studies.final_check`. A store of *n* random vectors, read on a fresh "
        "connection by the harness's own code. *final, scan*: the final comparison of every record "
        "(one `scan()`), what every test case now ends with; "
        f"*final, get per id*: the same by one `get` per id (a backend without `scan`; timed on {GETS_TIMED} ids and scaled to *n*); *old sample*: the "
        f"{OLD_SAMPLE} sampled gets the final check made before; *read-back*: the {FAILED_BATCH} ids of a failed "
        "batch, by the harness (a scan from 64 ids on) and by gets. Approximate backends: the recall "
        "battery (32 typical and 8 adversarial queries at limit 10) and its recall. Milliseconds, "
        "median of the repeats for the scan and read-back, one run for the gets.",
        "",
        f"Host: {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in facts['load_average'])} when the run ended: the machine was "
        "shared with other work, so absolute times are inflated; rows of one run compare.",
        "",
        "| backend | n | dim | final, scan | final, get per id | old sample (256 gets) | read-back, harness | read-back, gets "
        "| battery | recall typical | recall adversarial |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        recall = [f"{row[key]:.3f}" if key in row else "-" for key in ("recall_typical", "recall_adversarial")]
        lines.append(
            f"| {row['spec']} | {row['n']:,} | {row['dim']} | {_ms(row, 'final_scan_s')} | {_ms(row, 'final_gets_s')} "
            f"| {_ms(row, 'old_sample_gets_s')} | {_ms(row, 'read_back_batch_s')} | {_ms(row, 'read_back_batch_gets_s')} "
            f"| {_ms(row, 'battery_s')} | {recall[0]} | {recall[1]} |"
        )
    return report_files.write(directory / "final-check-cost", data, "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m umi_dst.studies.final_check", description=__doc__)
    parser.add_argument("--backend", action="append", help=f"backend spec, repeatable (default {', '.join(SPECS)})")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--dims", type=int, nargs="+", default=list(DIMS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    rows = []
    for spec in args.backend or SPECS:
        for dim in args.dims:
            for n in args.sizes:
                rows.append(measure(spec, n, dim, args.repeat))
                print(json.dumps(rows[-1]), flush=True)
    print(write_report(rows, machine_facts(), args.report_dir))


if __name__ == "__main__":
    main()
