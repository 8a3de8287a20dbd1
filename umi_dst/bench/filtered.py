"""Filtered search through a backend beside the raw engine's own filtered query (issue 25).

Each record of a clustered data set carries ``{"bucket": i % 100}``, so ``{"bucket": {"$lt": s}}``
selects s% of the store. Per backend and selectivity the same queries run through
``backend.search(q, 10, filter)`` and through the engine directly (``engines.raw_filtered_query``),
one after the other on the same store; both are scored against the Sim oracle's exact
filtered top 10. The goal: an exact backend within 2x of the raw engine's p50 latency.
``umi-dst bench`` runs it at its largest case and ``umi_dst.studies.filtered_search`` at a size
of its own; both render the rows with ``HEADERS``, ``cells`` and ``goal_line``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from umi_dst import registry
from umi_dst.backends.sim import SimVectorBackend
from umi_dst.bench import engines
from umi_dst.bench.data import Dataset
from umi_dst.bench.timing import summary, timed_calls
from umi_dst.contract import declares_filters

LIMIT = 10
SELECTIVITIES = (1, 10, 50, 100)
"""Percent of the store each filter selects."""
GOAL = 2.0
"""An exact backend's p50 latency over the raw engine's, at most."""


def bucket_filter(percent: int) -> dict:
    return {"bucket": {"$lt": percent}}


def tagged_items(dataset: Dataset) -> list[tuple]:
    return [(id, vector, {"bucket": i % 100}) for i, (id, vector) in enumerate(dataset.items())]


def oracle_for(dataset: Dataset) -> SimVectorBackend:
    """The Sim loaded with the tagged data set: the exact filtered answers."""
    oracle = SimVectorBackend(dataset.dim)
    oracle.store_batch(tagged_items(dataset))
    return oracle


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    """Mean share of each query's true filtered top ids that were returned."""
    return float(np.mean([len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(found, truth)]))


def short_answers(found: list[list[str]], truth: list[list[str]]) -> int:
    """Answers with fewer results than min(limit, matching): a contract violation, not a recall loss."""
    return sum(len(f) < len(t) for f, t in zip(found, truth))


def measure(spec: str, dataset: Dataset, oracle: SimVectorBackend, workdir: Path) -> list[dict]:
    """One row per selectivity for ``spec``, or no rows if its factory does not declare filters."""
    factory = registry.build(spec, workdir, dataset.dim)
    if not declares_filters(factory):
        factory.destroy()
        return []
    backend = factory.open()
    try:
        backend.store_batch(tagged_items(dataset))
        raw = engines.raw_filtered_query(backend, LIMIT)
        return [_row(spec, factory, backend, raw, dataset, oracle, percent) for percent in SELECTIVITIES]
    finally:
        backend.close()
        factory.destroy()


def _row(spec, factory, backend, raw, dataset: Dataset, oracle: SimVectorBackend, percent: int) -> dict:
    filter = bucket_filter(percent)
    truth = [[r.id for r in oracle.search(q, LIMIT, filter)] for q in dataset.queries]
    times, results = timed_calls(lambda q: backend.search(q, LIMIT, filter), dataset.queries)
    found = [[r.id for r in answer] for answer in results]
    row = {
        "spec": spec,
        "approximate": bool(factory.approximate),
        "selectivity_percent": percent,
        "matching": sum(i % 100 < percent for i in range(dataset.n)),
        "backend": summary(times),
        "recall": recall(found, truth),
        "short_answers": short_answers(found, truth),
        "raw": None,
    }
    if raw is not None:
        raw_times, raw_ids = timed_calls(lambda q: raw(q, filter), dataset.queries)
        row["raw"] = summary(raw_times)
        row["ratio_p50"] = row["backend"]["p50_ms"] / row["raw"]["p50_ms"]
        row["raw_recall"] = recall(raw_ids, truth)
        row["raw_short_answers"] = short_answers(raw_ids, truth)
    return row


HEADERS = [
    "backend",
    "selects",
    "p50 ms",
    "p95 ms",
    "QPS",
    "recall",
    "short",
    "raw p50 ms",
    "raw QPS",
    "raw recall",
    "raw short",
    "ratio p50",
]


def cells(row: dict) -> list[object]:
    """One table row of ``HEADERS`` for a row of ``measure``; the raw columns are empty for an
    engine without a raw query (the Sim)."""
    ours, raw = row["backend"], row["raw"] or {}
    return [
        f"`{row['spec']}`",
        f"{row['selectivity_percent']}%",
        ours["p50_ms"],
        ours["p95_ms"],
        ours["per_s"],
        row["recall"],
        row["short_answers"],
        raw.get("p50_ms"),
        raw.get("per_s"),
        row.get("raw_recall"),
        row.get("raw_short_answers"),
        row.get("ratio_p50"),
    ]


def goal_line(rows: list[dict]) -> str:
    """How many exact backends' rows meet ``GOAL`` against their raw engine."""
    exact = [row for row in rows if not row["approximate"] and row["raw"] is not None]
    met = sum(row["ratio_p50"] <= GOAL for row in exact)
    return f"Exact backends within {GOAL}x of the raw engine's p50: {met} of {len(exact)} rows."
