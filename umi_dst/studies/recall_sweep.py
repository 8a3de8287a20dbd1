"""Recall of the approximate backends by store size and index setting, with its cost.

For each approximate engine and size, a fresh store of *n* random vectors (dim 1536 unless
``--dim``) is loaded once; then, for each setting, the recall battery the harness judges the
floor on (``umi_dst.checking.recall_battery``: 32 typical and 8 adversarial queries at limit 10) runs
on a fresh connection, timed per query. Lance (IVF_HNSW_SQ, built once at load): the search's
HNSW breadth ``ef`` and ``refine_factor`` (candidates re-ranked on the float32 vectors), and
its flat scan for the cost of an exact answer. PostgreSQL (HNSW): ``hnsw.ef_search``, under
each build setting ``m`` / ``ef_construction`` (the index is dropped and rebuilt, timed). Run
``python -m umi_dst.studies.recall_sweep``; it writes ``reports/recall-sweep.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from psycopg import sql

from umi_dst.backends.lance.factory import build_factory
from umi_dst.backends.lance.store import IndexPlan
from umi_dst.backends.postgres.factory import approximate_factory
from umi_dst.backends.sim import SimVectorBackend
from umi_dst.bench.host import machine_facts
from umi_dst.checking import recall_battery
from umi_dst.contract import VectorBackend
from umi_dst.recipes import random_matrix
from umi_dst.studies import report_files

SIZES = (1_000, 10_000)
DIM = 1536
LANCE_SEARCH = ((64, 4), (128, 10), (256, 10), (256, 20), (512, 20))
"""(ef, refine_factor) pairs; the backend's own is the first."""
PG_BUILDS = ((16, 64), (32, 128))
"""(m, ef_construction): pgvector's defaults, which the backend uses, then a denser graph."""
PG_EF_SEARCH = (100, 200, 400, 800)
"""The backend's own ``ef_search`` first."""


def _loaded(backend: VectorBackend, oracle: SimVectorBackend, n: int, dim: int) -> None:
    vectors = random_matrix(n, n, dim)
    items = [(f"record-{i}", vectors[i]) for i in range(n)]
    backend.store_batch(items)
    oracle.store_batch(items)


def _battery(backend: VectorBackend, oracle: SimVectorBackend, atol: float) -> dict:
    started = time.perf_counter()
    report = recall_battery.run(backend, oracle, atol)
    queries = len(report.typical) + len(report.adversarial)
    return {
        "ms_per_query": (time.perf_counter() - started) * 1000 / queries,
        "recall_typical": sum(report.typical) / len(report.typical),
        "recall_adversarial": sum(report.adversarial) / len(report.adversarial),
    }


def lance_rows(n: int, dim: int, scratch: Path) -> Iterator[dict]:
    base = IndexPlan()
    factory = build_factory(scratch, dim, name="lance-approx", index=base)
    oracle = SimVectorBackend(dim)
    backend = factory.open()
    started = time.perf_counter()
    _loaded(backend, oracle, n, dim)  # the index is built by this write (min_rows is 8)
    load_s = time.perf_counter() - started
    backend.close()
    build = f"m {base.m}, ef_construction {base.ef_construction}, {base.num_partitions} partition"
    settings = [
        (f"ef {ef}, refine {refine}", dataclasses.replace(base, ef=ef, refine_factor=refine))
        for ef, refine in LANCE_SEARCH
    ]
    for label, plan in [*settings, ("flat scan (exact)", None)]:
        connection = factory.backend_class(dataclasses.replace(factory.store, index=plan))
        try:
            row = _battery(connection, oracle, factory.score_atol)
        finally:
            connection.close()
        yield {"engine": "lance-approx", "n": n, "dim": dim, "build": build, "build_s": load_s, "search": label, **row}
    factory.destroy()


def postgres_rows(n: int, dim: int, scratch: Path) -> Iterator[dict]:
    factory = approximate_factory(scratch, dim)
    oracle = SimVectorBackend(dim)
    backend = factory.open()
    _loaded(backend, oracle, n, dim)
    backend.close()
    try:
        for m, ef_construction in PG_BUILDS:
            build_s = _rebuild_index(factory, m, ef_construction)
            for ef_search in PG_EF_SEARCH:
                connection = _open(factory, ef_search)
                try:
                    row = _battery(connection, oracle, factory.score_atol)
                finally:
                    connection.close()
                yield {"engine": "postgres-approx", "n": n, "dim": dim, "build": f"m {m}, ef_construction {ef_construction}",
                       "build_s": build_s, "search": f"ef_search {ef_search}", **row}  # fmt: skip
    finally:
        factory.destroy()


def _open(factory, ef_search: int) -> VectorBackend:
    """A connection to the store that searches with this ``ef_search``."""
    connection = factory.open()
    connection.ef_search = ef_search
    return connection


def _rebuild_index(factory, m: int, ef_construction: int) -> float:
    """Drop the table's HNSW index and build it again with these parameters; seconds taken."""
    with factory.server.connect(autocommit=True) as connection:
        table = factory.table.as_string(connection)
        for (index,) in connection.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
            (table,),
        ).fetchall():
            connection.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
        started = time.perf_counter()
        connection.execute(
            sql.SQL(
                "CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})"
            ).format(factory.table, sql.Literal(m), sql.Literal(ef_construction))
        )
        return time.perf_counter() - started


ENGINES = {"lance-approx": lance_rows, "postgres-approx": postgres_rows}


def write_report(rows: list[dict], facts: dict, directory: Path) -> Path:
    data = {"host": facts, "rows": rows}
    lines = [
        "# Recall of the approximate backends by size and index setting",
        "",
        "Produced by `python -m umi_dst.studies.recall_sweep`. A store of *n* random vectors, loaded in one batch; "
        "for each setting the recall battery the floor is judged on (32 typical queries, a stored record plus "
        "noise; 8 adversarial ones, negated records and random directions, not judged) at limit 10, on a fresh "
        "connection. *build*: seconds to load and index (Lance) or to rebuild the index (PostgreSQL). *ms/query*: "
        "the battery's wall time per query, every result checked by the harness included.",
        "",
        f"Host: {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in facts['load_average'])} when the run ended: the machine was "
        "shared with other work, so absolute times are inflated; rows of one run compare.",
        "",
        "| engine | n | dim | build | build s | search | ms/query | recall typical | recall adversarial |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['engine']} | {row['n']:,} | {row['dim']} | {row['build']} | {row['build_s']:.1f} | {row['search']} "
            f"| {row['ms_per_query']:.1f} | {row['recall_typical']:.3f} | {row['recall_adversarial']:.3f} |"
        )
    return report_files.write(directory / "recall-sweep", data, "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m umi_dst.studies.recall_sweep", description=__doc__)
    parser.add_argument("--engine", action="append", choices=sorted(ENGINES), help="repeatable (default: both)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    rows = []
    for engine in args.engine or sorted(ENGINES):
        for n in args.sizes:
            with tempfile.TemporaryDirectory(prefix="umi-recall-sweep-") as scratch:
                for row in ENGINES[engine](n, args.dim, Path(scratch)):
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    print(write_report(rows, machine_facts(), args.report_dir))


if __name__ == "__main__":
    main()
