"""The campaign-scaling bench: the driver's queue order, its replay on more workers, the report."""

from __future__ import annotations

import json
import time

import pytest

from umi_dst.campaign.dispatch import ShardQueue
from umi_dst.campaign.shard import ShardResult
from umi_dst.campaign.shards import Shard
from umi_dst.studies import campaign_scaling


def shard(backend: str, index: int) -> Shard:
    return Shard(backend, index, 3, index, 10)


def test_queue_measures_each_backend_then_sends_the_slowest_first():
    queue = ShardQueue(iter([shard(b, i) for b in ("cheap", "dear") for i in range(3)]), reorder=True)
    assert [queue.next(), queue.next()] == [shard("cheap", 0), shard("dear", 0)], (
        "each backend measured early, in plan order"
    )
    queue.finished(ShardResult(shard("cheap", 0), cases=10, seconds=1.0))
    queue.finished(ShardResult(shard("dear", 0), cases=10, seconds=30.0))
    assert [queue.next() for _ in range(5)] == [
        shard("dear", 1),
        shard("dear", 2),
        shard("cheap", 1),
        shard("cheap", 2),
        None,
    ]


def test_time_budget_queue_keeps_plan_order():
    planned = [shard(b, i) for i in range(2) for b in ("cheap", "dear")]
    queue = ShardQueue(iter(planned), reorder=False)
    queue.finished(ShardResult(shard("dear", 0), cases=1, seconds=99.0))
    assert [queue.next() for _ in range(5)] == [*planned, None]


def measured(seconds: dict[str, list[float]]) -> list[dict]:
    return [
        {"shard": vars(Shard(b, i, len(times), i, 10)), "cases": 10, "seconds": s, "ended": 0.0}
        for b, times in seconds.items()
        for i, s in enumerate(times)
    ]


def test_predicted_wall_is_the_work_on_one_worker_and_the_longest_shard_on_many():
    shards = measured({"sim": [1.0, 1.0, 1.0, 1.0], "lance": [20.0, 12.0, 8.0], "postgres": [5.0, 5.0]})
    walls = [campaign_scaling.predicted_wall(shards, n) for n in (1, 2, 3, 4, 64)]
    assert walls[0] == pytest.approx(54.0)
    assert walls == sorted(walls, reverse=True)
    assert walls[1] <= 54.0 / 2 + 5.0, "two workers leave at most one short shard alone at the end"
    assert walls[-1] == pytest.approx(20.0)


def test_machine_busy_time_counts_this_process_at_least():
    """The whole machine's busy time is what bounds more workers; it includes our own CPU."""
    busy, cpu = campaign_scaling._machine_busy_seconds(), time.process_time()
    while time.process_time() - cpu < 0.3:
        pass
    assert campaign_scaling._machine_busy_seconds() - busy >= 0.25


@pytest.mark.slow
def test_bench_runs_the_command_on_one_and_two_workers_and_writes_the_report(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    argv = [
        "--backend",
        "sim",
        "--examples",
        "20",
        "--steps",
        "5",
        "--seeds-dir",
        str(seeds),
        "--report-dir",
        str(tmp_path),
    ]
    assert campaign_scaling.main(argv) == 0
    result = json.loads(next(tmp_path.glob("campaign-scaling-*.json")).read_text())
    one, two = result["runs"]
    assert (one["workers"], two["workers"]) == (1, 2)
    assert one["cases"] == two["cases"] and one["cases"]["sim"] >= 20, "the same campaign on any number of workers"
    assert result["scaling"]["predicted"]["1"]["speedup"] == 1.0
    assert 0 < one["machine_busy_cores"] <= result["machine"]["logical_cpus"]
    assert "| 2 | " in next(tmp_path.glob("campaign-scaling-*.md")).read_text()
