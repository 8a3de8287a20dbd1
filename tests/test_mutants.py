"""The framework proves it finds bugs: every planted bug is caught, shrunk, saved and replayed."""

from __future__ import annotations

import pytest

from backends.mutants import MUTANTS
from umi_dst.campaign import run_campaign
from umi_dst.machine import run_contract_machine
from umi_dst.replay import replay_file
from umi_dst.seeds import load


def ci_campaign(spec, tmp_path, ci_settings):
    return run_campaign(
        spec,
        dim=8,
        examples=ci_settings.max_examples,
        steps=ci_settings.stateful_step_count,
        seed=0,
        seeds_dir=tmp_path / "seeds",
        workdir=tmp_path,
    )


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_machine_catches_planted_bug_and_seed_replays(mutant, tmp_path, ci_settings):
    spec = f"backends.mutants:{mutant}"
    result = ci_campaign(spec, tmp_path, ci_settings)
    assert not result.passed, f"{mutant} was not caught within the ci budget"
    assert result.seed_path is not None and result.seed_path.exists()
    seed = load(result.seed_path)
    assert seed.backend == spec and seed.steps, "the seed names its backend and keeps the shrunk steps"
    replayed = replay_file(result.seed_path, workdir=tmp_path)
    assert replayed.reproduced, f"seed did not reproduce: {replayed.summary()}"
    assert replayed.at_step == seed.failure["step"], "replay fails at the same step as the original run"
    assert not replay_file(result.seed_path, backend="sim", workdir=tmp_path).reproduced, "the correct Sim passes the seed"


def test_correct_sim_passes_the_machine(tmp_path, ci_settings):
    run_contract_machine("sim", dim=8, workdir=tmp_path, settings=ci_settings)


def test_correct_sim_passes_at_dim_1536(tmp_path, ci_settings):
    run_contract_machine("sim", dim=1536, workdir=tmp_path, settings=ci_settings)
