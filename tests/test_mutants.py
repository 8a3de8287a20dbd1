"""The framework proves it finds bugs: every planted bug is caught, shrunk, saved and replayed."""

from __future__ import annotations

from pathlib import Path

import pytest

from umi_dst.selftest.mutants import MUTANTS, NEMESES, REFUSED
from umi_dst.campaign import run_campaign
from umi_dst.machine import run_contract_machine
from umi_dst.replay import replay_file, reproduces_recorded_failure
from umi_dst.seeds import load

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


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
    spec = f"umi_dst.selftest.mutants:{mutant}"
    result = ci_campaign(spec, tmp_path, ci_settings)
    assert not result.passed, f"{mutant} was not caught within the ci budget"
    assert result.seed_path is not None and result.seed_path.exists()
    seed = load(result.seed_path)
    assert seed.backend == spec, "the seed names its backend"
    assert seed.steps or seed.failure["step"] is None, "the seed keeps the shrunk steps up to the failing one"
    replayed = replay_file(result.seed_path, workdir=tmp_path)
    assert replayed.reproduced, f"seed did not reproduce: {replayed.summary()}"
    assert replayed.at_step == seed.failure["step"], "replay fails at the same step as the original run"
    correct = f"umi_dst.selftest.mutants:control_{mutant}" if mutant in NEMESES else "sim"
    assert not replay_file(result.seed_path, backend=correct, workdir=tmp_path).reproduced, "the correct Sim passes the seed"


def test_correct_sim_passes_the_machine(tmp_path, ci_settings):
    run_contract_machine("sim", dim=8, workdir=tmp_path, settings=ci_settings)


def test_correct_sim_passes_at_dim_1536(tmp_path, ci_settings):
    run_contract_machine("sim", dim=1536, workdir=tmp_path, settings=ci_settings)


@pytest.mark.parametrize(("mutant", "field"), [(name, next(iter(declared))) for name, (_, declared) in sorted(REFUSED.items())])
def test_factory_declaring_what_the_contract_forbids_is_refused(mutant, field, tmp_path, ci_settings):
    result = ci_campaign(f"umi_dst.selftest.mutants:{mutant}", tmp_path, ci_settings)
    assert not result.passed and result.seed_path is None, "a refused factory runs no test case"
    assert f"{field} = " in result.failure and "CONTRACT §3" in result.failure, result.failure


def test_expected_failure_must_be_the_recorded_one(tmp_path):
    """A case-study seed fails on an unrelated broken backend too, but not the recorded way."""
    seed = load(SEEDS / "lance-upstream" / "l2-distance-reported-as-score.json")
    unrelated = replay_file(SEEDS / "lance-upstream" / "l2-distance-reported-as-score.json", "umi_dst.selftest.mutants:skips_last_record_in_scan", tmp_path)
    assert unrelated.reproduced and unrelated.at_step == seed.failure["step"], "it does fail, at the same step"
    assert not reproduces_recorded_failure(seed, unrelated), unrelated.summary()
    rescaled = replay_file(SEEDS / "lance-upstream" / "l2-distance-reported-as-score.json", "umi_dst.selftest.mutants:score_is_distance", tmp_path)
    assert reproduces_recorded_failure(seed, rescaled), "the same check failing with other values is the recorded failure"
