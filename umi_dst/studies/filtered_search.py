"""Filtered search through the backends against the raw engine's own filtered query (issue 25).

The measurement is the bench's (``umi_dst.bench.filtered``, also run by ``umi-dst bench``);
this study runs it at a larger size on the four engine backends and writes a report of its own.
The raw query has neither the backend's validation, nor its fallback for a short answer, so
recall can differ.

Run ``python -m umi_dst.studies.filtered_search [--n N] [--dim D] [--queries Q]``; it writes
``reports/filtered-search.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from umi_dst import strict_json
from umi_dst.bench.data import clustered
from umi_dst.bench.filtered import GOAL, HEADERS, LIMIT, cells, goal_line, measure, oracle_for
from umi_dst.bench.host import machine_facts
from umi_dst.bench.report import table

SPECS = ("lance", "lance-approx", "postgres", "postgres-approx")


def write_report(rows: list[dict], n: int, dim: int, queries: int, facts: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    strict_json.write(directory / "filtered-search.json", {"host": facts, "n": n, "dim": dim, "rows": rows})
    lines = [
        "# Filtered search: the backends against the raw engine's filtered query",
        "",
        f"Produced by `python -m umi_dst.studies.filtered_search --n {n} --dim {dim} --queries {queries}`: {n:,} "
        f'clustered vectors of dim {dim}, each with metadata `{{"bucket": i % 100}}`; the filter '
        '`{"bucket": {"$lt": s}}` selects s% of the store. Per backend and selectivity, '
        f"{queries} queries for the top {LIMIT} through `backend.search(q, {LIMIT}, filter)` and through the engine "
        "directly with the filter the backend sends and the same search settings, one after the other in the "
        "same process; recall is against the Sim oracle's exact filtered top 10. *short* counts answers with fewer "
        f"results than min({LIMIT}, matching). Goal: an exact backend's p50 within {GOAL}x of the raw engine's.",
        "",
        f"Host: {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in facts['load_average'])} at the end: the machine was shared, so absolute "
        "times are inflated; the ratio of the two columns of a row is what compares.",
        "",
        table(HEADERS, [cells(row) for row in rows]),
    ]
    lines += [
        "",
        goal_line(rows),
        "",
        "The raw Lance query goes through lancedb's synchronous API, as a plain user's would; the backend drives "
        "the async API on a loop of its own (backends/lance/store.py), which saves a thread hand-off per call, so "
        "Lance rows can fall below 1. With this few queries on a loaded machine a row's ratio moves by tens of "
        "percent from run to run.",
    ]
    path = directory / "filtered-search.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    dataset = clustered(args.n, args.dim, queries=args.queries)
    oracle = oracle_for(dataset)
    rows = []
    for spec in SPECS:
        with tempfile.TemporaryDirectory(prefix="umi-filtered-search-") as scratch:
            for row in measure(spec, dataset, oracle, Path(scratch)):
                print(strict_json.dumps(row, indent=None), flush=True)
                rows.append(row)
    print(write_report(rows, args.n, args.dim, args.queries, machine_facts(), args.reports))


if __name__ == "__main__":
    main()
