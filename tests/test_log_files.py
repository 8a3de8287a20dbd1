"""The append-only log store: a torn or corrupt tail is ignored and cut off; campaigns with the
``crash`` fault pass the correct store and catch the one that writes a batch line by line."""

from __future__ import annotations

import pytest

from umi_dst.campaign import dispatch
from umi_dst.campaign.shard import DEFAULT_CONFIG, DEFAULT_STEPS, run_shard
from umi_dst.campaign.shards import Shard
from umi_dst.campaign.workers import InProcessRunner
from umi_dst.checking.crash_states import CRASH
from umi_dst.recipes import random_matrix
from umi_dst.selftest import log_files

DIM = 8
CORRECT = "umi_dst.selftest.log_files:correct"
PER_ITEM = "umi_dst.selftest.log_files:batch_per_item"


def test_a_torn_or_corrupt_tail_is_ignored_and_cut_off_by_the_next_write(tmp_path):
    factory = log_files.correct(tmp_path, DIM)
    backend = factory.open()
    a, b, c = random_matrix(0, 3, DIM)
    backend.store_batch([("a", a), ("b", b)])
    backend.store("c", c)
    assert backend.delete("b") and not backend.delete("b"), "a delete of a missing id appends nothing"
    log = factory.data_dir / log_files.LOG
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3 and factory.open().count() == 2
    log.write_bytes(lines[0] + lines[1].replace(b'"c"', b'"d"') + lines[2])
    assert factory.open().count() == 2 and not factory.open().exists("d"), "a bad checksum ends the log"
    log.write_bytes(lines[0] + lines[1][:-3])
    assert factory.open().count() == 2, "a torn line is ignored"
    backend.delete("a")
    repaired = log.read_bytes().splitlines(keepends=True)
    assert repaired[0] == lines[0] and len(repaired) == 2, "the next write cut the torn line off before appending"
    assert factory.open().count() == 1 and factory.open().exists("b")
    factory.destroy()


def shard(spec: str, seed: int, examples: int):
    return run_shard(Shard(spec, 0, 1, seed, examples), steps=DEFAULT_STEPS, dim=None, config=DEFAULT_CONFIG)


def test_a_short_campaign_with_crashes_passes_the_correct_log_store():
    result = shard(CORRECT, 0, 10)
    assert not result.error and not result.hits, result.hits
    assert result.coverage.fired(CRASH) > 0


def test_a_short_campaign_catches_a_batch_appended_line_by_line():
    result = shard(PER_ITEM, 1, 60)
    assert any("[crash]" in signature and "neither all-old nor all-new" in signature for signature in result.hits), (
        result.hits
    )


@pytest.mark.slow
def test_the_correct_log_store_passes_200_campaign_cases_with_the_crash_fault(tmp_path):
    plan = dispatch.CampaignPlan(backends=(CORRECT,), examples=200, steps=DEFAULT_STEPS, seed=0, dim=None,
                                 config=DEFAULT_CONFIG, seeds_dir=tmp_path / "seeds")  # fmt: skip
    report = dispatch.run(plan, InProcessRunner())
    coverage = report.coverage()[CORRECT]
    assert not report.failed() and not any(s.error for s in report.shards), [bug.message for bug in report.bugs()]
    assert coverage.cases >= 200 and coverage.fired(CRASH) >= 100, (coverage.cases, coverage.faults)
