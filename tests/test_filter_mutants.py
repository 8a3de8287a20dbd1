"""Every planted filter bug is caught by the ci budget, and its seed replays (issue 25).

Catching is quick; shrinking and replaying a seed of a few dozen steps is not (minutes on a
shared machine), so these run with the slow tests."""

from __future__ import annotations

import pytest

from umi_dst.seedfiles.replay import replay_file
from umi_dst.selftest.filter_mutants import FILTER_MUTANTS


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(FILTER_MUTANTS))
def test_machine_catches_planted_filter_bug_and_seed_replays(mutant, tmp_path, ci_campaign):
    spec = f"umi_dst.selftest.filter_mutants:{mutant}"
    result = ci_campaign(spec)
    assert not result.passed, f"{mutant} was not caught within the ci budget"
    replayed = replay_file(result.seed_path, workdir=tmp_path)
    assert replayed.reproduced, f"seed did not reproduce: {replayed.summary()}"
    control = "umi_dst.selftest.filter_mutants:control"
    assert not replay_file(result.seed_path, backend=control, workdir=tmp_path).reproduced, (
        "the correct Sim passes the seed"
    )
