"""The pytest plugin: --umi-backend runs the contract machine; seed files replay as tests."""

from __future__ import annotations

import shutil

import pytest

from umi_dst import seeds
from umi_dst.operations import Search, Step, Store
from umi_dst.recipes import Random

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester):
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:benchmark --hypothesis-profile=tiny\n")
    pytester.makeconftest(
        "from hypothesis import settings\n"
        "settings.register_profile('tiny', settings.get_profile('ci'), max_examples=15, stateful_step_count=10)\n"
    )
    return pytester


def test_umi_backend_option_runs_the_machine_and_reports_violations(project):
    passing = project.runpytest("--umi-backend", "sim", "--umi-backend", "backends.mutants:score_rescaled")
    passing.assert_outcomes(passed=1, failed=1)
    passing.stdout.fnmatch_lines(["*umi-contract*score_rescaled*", "*cosine similarity*"])


def seed_steps():
    return [Step(Store("a", Random(1))), Step(Search(Random(2), 1))]


def test_seed_files_are_collected_and_checked_against_expectations(project):
    seeds_dir = project.path / "seeds"
    regression = seeds.SeedFile("sim", 4, seed_steps(), {"step": 1}, {}, "passes on the correct sim")
    case_study = seeds.SeedFile(
        "backends.mutants:score_is_distance", 4, seed_steps(), {"step": 1}, {}, "distance reported as score",
        expect={"backends.mutants:score_is_distance": "fail", "sim": "pass"},
    )  # fmt: skip
    wrong = seeds.SeedFile("backends.mutants:score_rescaled", 4, seed_steps(), {"step": 1}, {}, "still broken")
    for seed in (regression, case_study, wrong):
        seeds.write(seed, seeds_dir)
    (seeds_dir / "notes.json").write_text('{"not": "a seed"}')
    result = project.runpytest("seeds")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*seed expected to pass on backends.mutants:score_rescaled*", "*still broken*"])


def test_malformed_seed_is_a_collection_error_naming_the_field(project):
    (project.path / "seeds").mkdir()
    (project.path / "seeds" / "bad.json").write_text('{"format": "umi-dst-seed", "version": 1, "backend": 5}')
    result = project.runpytest("seeds")
    result.stdout.fnmatch_lines(["*bad.json: field backend: expected str*"])
    assert result.ret != 0
