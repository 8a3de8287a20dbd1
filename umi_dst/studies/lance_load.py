"""Bulk load through the Lance backend against plain ``lancedb``, run after run.

Issue 11's goal: ``store_batch`` into a fresh store at least 0.8x as fast as ``create_table``
from one Arrow table (the raw engine), in every one of five runs. Each run loads the same
clustered data set three ways into fresh directories, rotating which goes first so that a
change of machine load falls on all. The backend's time includes everything a user pays:
validating every vector, last-wins on repeated ids, the Arrow conversion and the merge commit.
The third load is the engine's own floor for a correct bulk upsert: lancedb's
``merge_insert("id")`` of the backend's ready-made Arrow table into an empty table with the
backend's schema, timed alone. ``add`` and ``create_table`` are faster but are no upsert: a
concurrent writer's insert of the same id would go through as a duplicate.
Run ``python -m umi_dst.studies.lance_load [--n N] [--dim D] [--runs R]``; it writes
``reports/lance-load.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from pathlib import Path

from umi_dst import registry
from umi_dst.bench.baselines import lance_arrow_table
from umi_dst.bench.data import Dataset, clustered
from umi_dst.bench.host import machine_facts
from umi_dst.bench.timing import seconds
from umi_dst.studies import report_files

GOAL = 0.8
"""Raw seconds over backend seconds that every run must reach."""


def backend_load_s(spec: str, dataset: Dataset, workdir: Path) -> float:
    factory = registry.build(spec, workdir, dataset.dim)
    backend = factory.open()
    try:
        load_s, _ = seconds(lambda: backend.store_batch(dataset.items()))
        if backend.count() != dataset.n:
            raise AssertionError(f"{spec} holds {backend.count()} records after loading {dataset.n}")
        return load_s
    finally:
        backend.close()
        factory.destroy()


def raw_load_s(dataset: Dataset, workdir: Path) -> float:
    import lancedb

    table = lance_arrow_table(dataset)
    load_s, _ = seconds(lambda: lancedb.connect(workdir).create_table("raw", table))
    return load_s


def merge_floor_s(dataset: Dataset, workdir: Path) -> float:
    """lancedb's ``merge_insert`` alone: the backend's Arrow rows into an empty table of its schema."""
    import lancedb

    from umi_dst.backends.lance.store import ID_COLUMN, LanceStore, to_arrow

    store = LanceStore(path=str(workdir), dim=dataset.dim)
    rows = to_arrow(store, dataset.items())
    table = lancedb.connect(workdir).create_table("merge", schema=store.schema())
    load_s, _ = seconds(
        lambda: table.merge_insert(ID_COLUMN).when_matched_update_all().when_not_matched_insert_all().execute(rows)
    )
    if table.count_rows() != dataset.n:
        raise AssertionError(f"merge_insert left {table.count_rows()} rows after loading {dataset.n}")
    return load_s


LOADS = ("backend", "raw", "merge")


def warm_up(spec: str, dim: int) -> None:
    """One small untimed load of each kind: the first in a process pays lazy imports, the start
    of lancedb's thread pools and of the Lance nemeses' forkserver (which imports lancedb
    again, on the same cores), and so would be timed against whichever load came first."""
    small = clustered(100, dim, queries=1, seed=1)
    with tempfile.TemporaryDirectory(prefix="umi-lance-load-") as scratch:
        root = Path(scratch)
        backend_load_s(spec, small, root / "backend")
        raw_load_s(small, root / "raw")
        merge_floor_s(small, root / "merge")
    helper = multiprocessing.get_context("forkserver").Process(target=int)
    helper.start()  # forked once the forkserver has finished importing lancedb
    helper.join()


def run(spec: str, n: int, dim: int, runs: int) -> list[dict]:
    dataset = clustered(n, dim, queries=1)
    warm_up(spec, dim)
    rows = []
    for index in range(runs):
        with tempfile.TemporaryDirectory(prefix="umi-lance-load-") as scratch:
            root = Path(scratch)
            loads = {
                "backend": lambda: backend_load_s(spec, dataset, root / "backend"),
                "raw": lambda: raw_load_s(dataset, root / "raw"),
                "merge": lambda: merge_floor_s(dataset, root / "merge"),
            }
            order = LOADS[index % len(LOADS) :] + LOADS[: index % len(LOADS)]
            row = {name: loads[name]() for name in order}
        row["ratio"] = row["raw"] / row["backend"]
        row["merge_ratio"] = row["raw"] / row["merge"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def write_report(spec: str, n: int, dim: int, rows: list[dict], facts: dict, directory: Path) -> Path:
    met = sum(row["ratio"] >= GOAL for row in rows)
    floor_met = sum(row["merge_ratio"] >= GOAL for row in rows)
    data = {"host": facts, "spec": spec, "n": n, "dim": dim, "goal": GOAL, "rows": rows}
    lines = [
        f"# Lance bulk load: `{spec}` store_batch against raw create_table",
        "",
        f"Produced by `python -m umi_dst.studies.lance_load --n {n} --dim {dim} --runs {len(rows)}`. Each run loads the "
        f"same {n:,} clustered vectors of dim {dim} into a fresh store with `store_batch`, into a fresh directory with "
        '`lancedb.connect(...).create_table(name, arrow_table)`, and with lancedb\'s `merge_insert("id")` alone (the '
        "backend's Arrow rows, converted before the clock starts, into an empty table of the backend's schema: the "
        "engine's floor for a correct bulk upsert), rotating which goes first. *ratio* is create_table seconds over "
        f"store_batch seconds (1 = as fast as the raw engine); the goal is at least {GOAL} in every run. *floor ratio* is "
        "create_table seconds over merge_insert seconds: the best ratio any backend built on `merge_insert` could reach.",
        "",
        f"Host: {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in facts['load_average'])} when the run ended: the machine was shared, so "
        "absolute times are inflated; the ratio of a run's two loads is what compares.",
        "",
        "| run | store_batch s | create_table s | merge_insert s | ratio | floor ratio |",
        "|---|---|---|---|---|---|",
        *(
            f"| {i + 1} | {row['backend']:.2f} | {row['raw']:.2f} | {row['merge']:.2f} | {row['ratio']:.2f} | {row['merge_ratio']:.2f} |"
            for i, row in enumerate(rows)
        ),
        "",
        f"Goal met in {met} of {len(rows)} runs; the merge_insert floor reaches it in {floor_met} of {len(rows)}.",
    ]
    return report_files.write(directory / "lance-load", data, "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m umi_dst.studies.lance_load", description=__doc__)
    parser.add_argument("--backend", default="lance", help="backend spec (default lance)")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    rows = run(args.backend, args.n, args.dim, args.runs)
    print(write_report(args.backend, args.n, args.dim, rows, machine_facts(), args.report_dir))


if __name__ == "__main__":
    main()
