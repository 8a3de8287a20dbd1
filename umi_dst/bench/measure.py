"""One backend on one data set: every operation of the contract, timed through the registry.

The phases run in an order that keeps the data set intact for the reads (load, optional
engine maintenance, searches, point reads), then single writes on ids of their own, then
updates and deletes. Recall@10 comes from the limit-10 searches themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from umi_dst import registry
from umi_dst.bench import engines
from umi_dst.bench.data import Dataset
from umi_dst.bench.timing import PeakMemory, disk_mib, latencies, seconds, summary, timed_calls
from umi_dst.bench.truth import GroundTruth

LIMITS = (1, 5, 10, 20)
RECALL_LIMIT = 10


def measure_backend(
    spec: str,
    dataset: Dataset,
    truth: GroundTruth,
    workdir: Path,
    *,
    singles: int,
    note: Callable[[str], None] = lambda phase: None,
) -> dict:
    """Figures for ``spec`` on ``dataset``; ``singles`` is the number of calls per point operation."""
    workdir.mkdir(parents=True, exist_ok=True)
    factory = registry.build(spec, workdir, dataset.dim)
    out: dict = {"spec": spec, "approximate": bool(factory.approximate), "recall_floor": factory.recall_floor}
    backend = factory.open()
    try:
        with PeakMemory() as memory:
            note("load")
            load_s, _ = seconds(lambda: backend.store_batch(dataset.items()))
            out["load"] = {"seconds": load_s, "per_s": dataset.n / load_s}
            out["engine"] = engines.after_load(factory, backend, note)
            out["search"] = _searches(backend, dataset, truth, note)
            out["recall_at_10"] = out["search"].pop("recall_at_10")
            out.update(_point_ops(backend, dataset, singles, note))
            out["engine"].update(engines.after_writes(factory, backend))
        out["peak_rss_mib"] = memory.peak_mib
        out["disk_mib"] = engines.disk_mib(factory, backend, workdir) or disk_mib(workdir)
        out["versions"] = factory.versions() if hasattr(factory, "versions") else {}
    finally:
        backend.close()
        factory.destroy()
    return out


def _searches(backend, dataset: Dataset, truth: GroundTruth, note: Callable[[str], None]) -> dict:
    out: dict = {}
    for limit in LIMITS:
        note(f"search@{limit}")
        times, results = timed_calls(lambda q: backend.search(q, limit), dataset.queries)
        out[f"limit_{limit}"] = summary(times)
        if limit == RECALL_LIMIT:
            out["recall_at_10"] = truth.mean_recall(dataset.queries, results)
    return out


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
