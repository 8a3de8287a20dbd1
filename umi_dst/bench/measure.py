"""One backend on one data set: every operation of the contract, timed through the registry.

The phases run in an order that keeps the data set intact for the reads (load, searches,
point reads), then single writes on ids of their own, updates and deletes. Recall@10 comes
from the limit-10 searches themselves. An engine with a compaction step (Lance) is then
searched again, compacted, and searched once more, which shows what the single writes cost
later reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from umi_dst import registry
from umi_dst.bench import engines, sweep
from umi_dst.bench.data import Dataset
from umi_dst.bench.timing import PeakMemory, disk_mib, latencies, seconds, summary, timed_calls
from umi_dst.bench.truth import GroundTruth

LIMITS = (1, 5, 10, 20)
RECALL_LIMIT = 10
MAINTENANCE_QUERIES = 20


def measure_backend(
    spec: str,
    dataset: Dataset,
    truth: GroundTruth,
    workdir: Path,
    *,
    singles: int,
    sweep_knobs: bool = False,
    note: Callable[[str], None] = lambda phase: None,
) -> dict:
    """Figures for ``spec`` on ``dataset``; ``singles`` is the number of calls per point operation.

    With ``sweep_knobs``, an approximate backend's search knobs are also swept on the loaded
    store (see ``sweep``), before the writes change it.
    """
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    factory = registry.build(spec, workdir, dataset.dim)
    out: dict = {"spec": spec, "approximate": bool(factory.approximate), "recall_floor": factory.recall_floor}
    backend = factory.open()
    try:
        with PeakMemory() as memory:
            note("load")
            load_s, _ = seconds(lambda: backend.store_batch(dataset.items()))
            out["load"] = {"seconds": load_s, "per_s": dataset.n / load_s}
            out["engine"] = {"after_load": engines.facts(factory, backend)}
            out["search"] = _searches(backend, dataset, truth, note)
            out["recall_at_10"] = out["search"].pop("recall_at_10")
            if sweep_knobs:
                note("knob sweep")
                out["sweeps"] = sweep.sweep(backend, dataset, truth)
            out.update(_point_ops(backend, dataset, singles, note))
            out["engine"]["after_writes"] = engines.facts(factory, backend)
            compact = engines.maintenance(backend)
            if compact is not None:
                out["maintenance"] = _maintenance(compact, backend, dataset, note)
                out["engine"]["after_maintenance"] = engines.facts(factory, backend)
        out["peak_rss_mib"] = memory.peak_mib
        engine_size = engines.disk_mib(factory, backend, workdir)
        out["disk_mib"] = engine_size if engine_size is not None else disk_mib(workdir)
        out["index"] = engines.index_description(backend)
        out["versions"] = factory.versions() if hasattr(factory, "versions") else {}
    finally:
        backend.close()
        factory.destroy()
    out["wall_s"] = time.perf_counter() - started
    return out


def _searches(backend, dataset: Dataset, truth: GroundTruth, note: Callable[[str], None]) -> dict:
    """Every query at every limit, the limits interleaved so a burst of load elsewhere on the
    machine slows all of them alike rather than one."""
    note("search")
    calls = [(query, limit) for query in dataset.queries for limit in LIMITS]
    times, results = timed_calls(lambda call: backend.search(*call), calls)
    out: dict = {}
    for position, limit in enumerate(LIMITS):
        out[f"limit_{limit}"] = summary(times[position :: len(LIMITS)])
        if limit == RECALL_LIMIT:
            out["recall_at_10"] = truth.mean_recall(dataset.queries, results[position :: len(LIMITS)])
    return out


def _maintenance(compact: Callable[[], None], backend, dataset: Dataset, note: Callable[[str], None]) -> dict:
    """Search latency on the written-to store, the compaction's time, and latency after it."""
    queries = dataset.queries[:MAINTENANCE_QUERIES]
    search = lambda q: backend.search(q, RECALL_LIMIT)  # noqa: E731
    note("search before compaction")
    before = summary(latencies(search, queries))
    note("compaction")
    compact_s, _ = seconds(compact)
    note("search after compaction")
    return {"search_before": before, "seconds": compact_s, "search_after": summary(latencies(search, queries))}


def _point_ops(backend, dataset: Dataset, singles: int, note: Callable[[str], None]) -> dict:
    present = dataset.ids[:: max(1, dataset.n // singles)][:singles]
    fresh = dataset.fresh(singles, "s")
    replacements = [vector for _, vector in dataset.fresh(singles, "u")]
    out = {}
    note("get/exists/count")
    out["get"] = summary(latencies(backend.get, present))
    out["exists"] = summary(latencies(backend.exists, present))
    out["exists_missing"] = summary(latencies(backend.exists, [id for id, _ in fresh]))
    out["count"] = summary(latencies(lambda _: backend.count(), range(singles)))
    note("store")
    out["store"] = summary(latencies(lambda item: backend.store(*item), fresh))
    note("update")
    out["update"] = summary(latencies(lambda item: backend.store(*item), list(zip(present, replacements))))
    note("delete")
    out["delete"] = summary(latencies(backend.delete, [id for id, _ in fresh]))
    out["delete_missing"] = summary(latencies(backend.delete, [id for id, _ in fresh]))
    return out
