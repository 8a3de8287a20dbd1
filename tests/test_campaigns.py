"""Campaigns: every distinct bug, shape-dependent bugs, shards that add up, coverage."""

from __future__ import annotations

import dataclasses

import pytest

from umi_dst.campaign import dispatch, signatures
from umi_dst.campaign.shard import DEFAULT_CONFIG, DEFAULT_EXAMPLES, DEFAULT_STEPS, run_campaign
from umi_dst.campaign.workers import InProcessRunner, ProcessRunner
from umi_dst.generation.machine import MachineConfig
from umi_dst.seedfiles.replay import replay_file
from umi_dst.seedfiles.seeds import load
from umi_dst.selftest.shape_mutants import SHAPE_MUTANTS


def campaign(backends, tmp_path, examples=20, seed=0, **kwargs) -> dispatch.CampaignPlan:
    return dispatch.CampaignPlan(
        backends=tuple(backends), examples=examples, steps=DEFAULT_STEPS, seed=seed, dim=None,
        config=DEFAULT_CONFIG, seeds_dir=tmp_path / "seeds", **kwargs,
    )  # fmt: skip


THREE_BUGS = ("score_is_distance", "limit_off_by_one", "delete_always_true")
"""The bugs ``umi_dst.selftest.three_bugs`` carries, each also a backend of its own in ``umi_dst.selftest.mutants``."""


@pytest.mark.slow
def test_three_planted_bugs_give_distinct_seeds_each_replaying_to_its_own_failure(tmp_path):
    plan = dataclasses.replace(
        campaign(["umi_dst.selftest.three_bugs:factory"], tmp_path, examples=40), dim=8, config=MachineConfig()
    )
    bugs = dispatch.run(plan, InProcessRunner()).bugs()
    assert len({bug.signature for bug in bugs}) == len(bugs) and all(bug.status == "new" and bug.hits for bug in bugs)
    caught_by = {}
    for bug in bugs:
        assert replayed_signature(bug.seed, None, tmp_path) == bug.signature
        caught_by[bug.signature] = [
            m
            for m in THREE_BUGS
            if replayed_signature(bug.seed, f"umi_dst.selftest.mutants:{m}", tmp_path) == bug.signature
        ]
    assert all(len(mutants) == 1 for mutants in caught_by.values()), f"each seed shows exactly one bug: {caught_by}"
    assert sorted({m for [m] in caught_by.values()}) == sorted(THREE_BUGS), f"every bug has a seed: {caught_by}"


def replayed_signature(path, backend, tmp_path) -> str | None:
    """The signature of the failure ``path`` replays to on ``backend`` (its own by default)."""
    replayed = replay_file(path, backend, workdir=tmp_path)
    if not replayed.reproduced:
        return None
    step = None if replayed.at_step is None else load(path).steps[replayed.at_step]
    return signatures.signature(step, type(replayed.error).__name__, replayed.error.message)


def test_known_bugs_are_counted_not_saved_again(tmp_path):
    plan = campaign(["umi_dst.selftest.mutants:delete_always_true"], tmp_path, examples=10)
    first = dispatch.run(plan, InProcessRunner())
    [bug] = first.bugs()
    again = dispatch.run(plan, InProcessRunner())
    [replayed] = again.bugs()
    assert (replayed.status, replayed.seed, replayed.signature) == ("still failing", bug.seed, bug.signature)
    assert replayed.hits >= 1, "a known bug hit again is counted"
    assert len(list((tmp_path / "seeds").rglob("*.json"))) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(SHAPE_MUTANTS))
def test_default_campaign_catches_bugs_that_need_a_shape(mutant, tmp_path):
    """Dimension-dependent bugs and a bug after 255 writes on one connection (SHAPE_MUTANTS),
    found by the main job's campaign (its budget, steps and shapes; one fixed seed)."""
    plan = campaign([f"umi_dst.selftest.shape_mutants:{mutant}"], tmp_path, examples=DEFAULT_EXAMPLES)
    bugs = dispatch.run(plan, InProcessRunner()).bugs()
    assert bugs, f"{mutant} ({SHAPE_MUTANTS[mutant]}) escaped the default campaign"
    for bug in bugs:
        assert bug.status == "new", bug
        assert not replay_file(bug.seed, backend="sim", workdir=tmp_path).reproduced, "the correct Sim passes the seed"


@pytest.mark.slow
def test_pinned_short_campaign_misses_them(tmp_path):
    """The same budget at the old fixed shape (dim 8, no long cases) does not reach these bugs."""
    for mutant in ("ignores_simd_tail", "loses_write_256_on_a_connection"):
        result = run_campaign(
            f"umi_dst.selftest.shape_mutants:{mutant}", dim=8, examples=20, steps=DEFAULT_STEPS, seed=0,
            seeds_dir=tmp_path / "seeds", workdir=tmp_path,
        )  # fmt: skip
        assert result.passed, mutant


def test_a_bug_every_shard_hits_is_shrunk_once_by_the_first_shard(tmp_path):
    plan = dataclasses.replace(
        campaign(["umi_dst.selftest.mutants:delete_always_true"], tmp_path, examples=30), steps=10
    )
    report = dispatch.run(plan, InProcessRunner())
    hit_by = [s.shard.index for s in report.ordered_shards() if s.hits]
    shrunk_by = [s.shard.index for s in report.ordered_shards() if s.findings]
    assert len(hit_by) >= 2 and shrunk_by == hit_by[:1], (hit_by, shrunk_by)
    [bug] = report.bugs()
    assert bug.status == "new" and bug.hits == sum(sum(s.hits.values()) for s in report.shards)


def test_worker_processes_run_the_same_campaign_as_one_process(tmp_path):
    plan = dataclasses.replace(
        campaign(["sim", "umi_dst.selftest.mutants:delete_always_true"], tmp_path, examples=20, seed=4), steps=10
    )
    runner = ProcessRunner(2)
    try:
        spread = dispatch.run(dataclasses.replace(plan, seeds_dir=tmp_path / "spread"), runner)
    finally:
        runner.close()
    here = dispatch.run(plan, InProcessRunner())
    assert [dataclasses.asdict(b) | {"seed": None} for b in spread.bugs()] == [
        dataclasses.asdict(b) | {"seed": None} for b in here.bugs()
    ]
    assert {b: c.to_json() for b, c in spread.coverage().items()} == {
        b: c.to_json() for b, c in here.coverage().items()
    }
    [bug] = spread.bugs()
    assert load(bug.seed).steps == load(here.bugs()[0].seed).steps, "the same seed, shrunk the same way"


def test_signatures_ignore_drawn_values():
    a = signatures.check("get('x'): not a bit-exact round trip; value 3 is 1.5, stored -2e-05")
    b = signatures.check('get("O\'Brien"): not a bit-exact round trip; value 0 is 7.0, stored 8.0')
    assert a == b == "get(<s>): not a bit-exact round trip; value <n> is <n>, stored <n>"
    assert signatures.check("exists('a'): expected False, got True") != signatures.check(
        "exists('a'): expected True, got False"
    )


def test_a_filter_is_a_drawn_value_of_one_signature():
    def under_return(filter: dict) -> str:
        return signatures.check(f"filtered search under-returned: 0 results, but 3 records match {filter!r}, so ...")

    tenant = under_return({"user": "u1"})
    assert tenant == under_return({"$and": [{"user": "u'2"}, {"turn": {"$lte": 3}}]}) == under_return({})
    assert "<dict>" in tenant and "u1" not in tenant


def test_a_torn_file_is_one_signature_whatever_it_kept():
    """The kinds of torn state (a new file empty or half written, an append half done) are
    drawn states of one write: a bug they all show is one bug."""
    empty = "crash in file operation 1 of 3, its file holding 0 bytes (a new file, empty): a mixed state"
    half = "crash in file operation 3 of 9, its file holding 17 bytes (its 14 old bytes and 3 of 7 new): a mixed state"
    assert (
        signatures.check(empty)
        == signatures.check(half)
        == "crash in file operation <n> of <n>, its file torn: a mixed state"
    )
    assert signatures.check("crash after 2 of 9 file operations: a mixed state") != signatures.check(half)


def test_duration_budget_stops_and_counts_what_ran(tmp_path):
    plan = dispatch.CampaignPlan(
        backends=("sim",), duration=3.0, steps=10, seed=1, dim=None, config=DEFAULT_CONFIG, seeds_dir=tmp_path / "seeds"
    )
    report = dispatch.run(plan, InProcessRunner())
    assert report.coverage()["sim"].cases == sum(s.cases for s in report.shards) > 0
    assert report.wall_seconds < 30 and not report.failed()


def test_fault_outcomes_tell_old_new_and_unchanged_apart(tmp_path):
    """error_before fails before the write (never the new state), error_after after it (never
    the old); a write that changes nothing is counted apart, not as landed."""
    plan = campaign(["sim"], tmp_path, examples=20, seed=3)
    faults = dispatch.run(plan, InProcessRunner()).coverage()["sim"].faults
    before, after = faults["error_before"], faults["error_after"]
    assert before["new"] == 0 and before["old"] > 0 and before["unchanged"] > 0, before
    assert after["old"] == 0 and after["new"] > 0, after
