"""A campaign spread over CI jobs or a Dask cluster runs the same cases as one run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from umi_dst.campaign import dispatch
from umi_dst.campaign.shard import DEFAULT_CONFIG
from umi_dst.campaign.workers import InProcessRunner
from umi_dst.cli import main


def run_cli(*args: str) -> int:
    return main(list(args))


def test_shards_merged_cover_the_same_cases_as_one_run(tmp_path, capsys):
    common = ("--backend", "sim", "--backend", "umi_dst.selftest.mutants:delete_always_true", "--examples", "20",
              "--steps", "10", "--seed", "5", "--workers", "1")  # fmt: skip
    assert (
        run_cli("run", *common, "--seeds-dir", str(tmp_path / "one-seeds"), "--report-dir", str(tmp_path / "one")) == 1
    )
    for k in (1, 2):
        code = run_cli("run", *common, "--shard", f"{k}/2", "--seeds-dir", str(tmp_path / f"s{k}-seeds"),
                       "--report-dir", str(tmp_path / f"s{k}"))  # fmt: skip
        assert code in (0, 1)
    parts = [next((tmp_path / f"s{k}").glob("*.json")) for k in (1, 2)]
    assert run_cli("report", "merge", *map(str, parts), "--report-dir", str(tmp_path / "merged")) == 1
    capsys.readouterr()
    one, merged = (json.loads(next((tmp_path / d).glob("*.json")).read_text()) for d in ("one", "merged"))
    assert [s["shard"] for s in merged["shards"]] == [s["shard"] for s in one["shards"]]
    assert merged["coverage"] == one["coverage"], "the same cases ran, step for step"
    assert [(b["signature"], b["hits"]) for b in merged["bugs"]] == [(b["signature"], b["hits"]) for b in one["bugs"]]


def test_merging_reports_of_different_campaigns_is_refused(tmp_path, capsys):
    for seed in ("1", "2"):
        run_cli("run", "--backend", "sim", "--examples", "2", "--steps", "3", "--seed", seed, "--workers", "1",
                "--shard", "1/2", "--report-dir", str(tmp_path / seed))  # fmt: skip
    files = [str(next((tmp_path / seed).glob("*.json"))) for seed in ("1", "2")]
    assert run_cli("report", "merge", *files, "--report-dir", str(tmp_path / "m")) == 2
    assert "different campaigns" in capsys.readouterr().err


@pytest.mark.slow
def test_local_cluster_finds_a_planted_bug_and_the_driver_writes_its_seed(tmp_path):
    from distributed import LocalCluster

    from umi_dst.campaign.cluster import DaskRunner

    plan = dispatch.CampaignPlan(
        backends=("umi_dst.selftest.mutants:score_is_distance",), examples=30, steps=10, seed=3, dim=8,
        config=DEFAULT_CONFIG, seeds_dir=tmp_path / "seeds",
    )  # fmt: skip
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = DaskRunner(cluster.scheduler_address)
        try:
            on_cluster = dispatch.run(plan, runner)
        finally:
            runner.close()
    [bug] = on_cluster.bugs()
    assert bug.status == "new" and Path(bug.seed).parent.parent == tmp_path / "seeds" and Path(bug.seed).exists()
    here = dispatch.run(dataclasses.replace(plan, seeds_dir=tmp_path / "here"), InProcessRunner())
    assert [b.signature for b in here.bugs()] == [bug.signature]
    assert {b: c.to_json() for b, c in here.coverage().items()} == {
        b: c.to_json() for b, c in on_cluster.coverage().items()
    }


def test_cases_finished_on_a_cluster_reach_the_driver_one_by_one(tmp_path):
    """A job on a Dask worker reports each test case as it finishes, as a local worker does, so
    the progress bar moves per case, not per shard."""
    from distributed import LocalCluster

    from umi_dst.campaign.cluster import DaskRunner
    from umi_dst.campaign.shard import run_shard
    from umi_dst.campaign.shards import Shard

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        runner = DaskRunner(cluster.scheduler_address)
        try:
            shard = Shard("sim", 0, 1, 7, 6)
            result = runner.submit(
                run_shard, shard, steps=5, dim=8, workdir=tmp_path, on_example=runner.on_example()
            ).result()
            assert result.cases >= shard.examples
            assert runner.cases_reported() == result.cases
            assert runner.cases_reported() == 0, "each case is counted once"
        finally:
            runner.close()
