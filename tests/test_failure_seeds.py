"""A recorded failure becomes a seed file that replays to the same failure, without passing reads."""

from __future__ import annotations

from umi_dst.generation.machine import Failure
from umi_dst.operations import Count, Get, Search, Step, Store
from umi_dst.recipes import Random
from umi_dst.seedfiles.failure_seeds import save_failure
from umi_dst.seedfiles.replay import replay, replay_file
from umi_dst.seedfiles.seeds import SeedFile, load

SPEC = "umi_dst.selftest.mutants:score_is_distance"


def recorded_failure(steps, tmp_path) -> Failure:
    """The failure a machine would record for these steps: the real error, at the real step."""
    outcome = replay(SeedFile(SPEC, 4, steps, {}, {}), workdir=tmp_path)
    assert outcome.reproduced
    return Failure(steps, outcome.error, outcome.at_step)


def test_failure_is_written_trimmed_and_reproduces(tmp_path):
    steps = [Step(Store("a", Random(1))), Step(Get("a")), Step(Count()), Step(Search(Random(2), 1))]
    failure = recorded_failure(steps, tmp_path)
    saved = save_failure(
        failure, backend=SPEC, dim=4, versions={"x": "1"}, seeds_dir=tmp_path / "seeds", workdir=tmp_path
    )
    assert saved.reproduced and saved.path.parent == tmp_path / "seeds" / "umi_dst.selftest.mutants-score_is_distance"
    written = load(saved.path)
    assert [s.op.kind for s in written.steps] == ["store", "search"], "passing reads are dropped"
    assert written.failure["step"] == 1 and "search score" in written.failure["message"]
    assert replay_file(saved.path, workdir=tmp_path).at_step == 1


def test_failure_without_passing_reads_is_kept_whole(tmp_path):
    steps = [Step(Store("a", Random(1))), Step(Search(Random(2), 1))]
    failure = recorded_failure(steps, tmp_path)
    saved = save_failure(failure, backend=SPEC, dim=4, versions={}, seeds_dir=tmp_path, workdir=tmp_path)
    assert load(saved.path).steps == steps and saved.reproduced
