"""The pytest plugin: --umi-backend runs the contract machine; seed files replay as tests."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

import umi_dst.pytest_plugin.contract_shard  # noqa: F401  imported once here, so in-process inner runs share its classes (Pick, Step)
from umi_dst import cli
from umi_dst.contract import MAX_DIM
from umi_dst.operations import Delete, Get, Search, Step, Store
from umi_dst.recipes import Random
from umi_dst.seedfiles import parallel_seeds, seeds

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester):
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:benchmark --hypothesis-profile=tiny\n")
    pytester.makeconftest(
        "from hypothesis import settings\n"
        "settings.register_profile('tiny', settings.get_profile('ci'), max_examples=15, stateful_step_count=10)\n"
        "settings.register_profile('tiny-nightly', settings.get_profile('nightly'), max_examples=2, stateful_step_count=5)\n"
    )
    return pytester


PLANTED_CLASS = """
from umi_dst.contract_tests import ContractTests
from umi_dst.selftest import mutants


class TestPlanted(ContractTests):
    factory = mutants.get_returns_normalised
    dim = 4
    shards = 1

    def test_fixtures_build_this_backend(self, backend_factory, backend_dim):
        assert backend_dim == 4 and backend_factory.dim == 4
        assert backend_factory.open().count() == 0
"""


def junit_properties(path) -> dict[str, dict[str, str]]:
    """Test case name -> its JUnit XML properties."""
    root = ElementTree.parse(path).getroot()
    return {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }


def test_failing_contract_items_write_seeds_that_replay_to_the_same_failure(project, capsys):
    """Under --umi-backend and under a ContractTests subclass: a seed per failure, reported
    before Hypothesis's printout, named in the JUnit XML, replaying with ``umi-dst replay``."""
    project.makepyfile(test_planted=PLANTED_CLASS)
    result = project.runpytest(
        "--umi-backend", "umi_dst.selftest.mutants:delete_always_true", "--umi-shards", "1",
        "--umi-seed-output", "ci-seeds", "--junitxml", "junit.xml",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*contract violation on umi_dst.selftest.mutants:delete_always_true*", "seed written: *", "replay it:    umi-dst replay *",
         "*step 0: *", "*FAIL on umi_dst.selftest.mutants:delete_always_true at step*", "Hypothesis's report:",
         "ContractViolation: delete returned: expected False, got True", "*ContractMachine_delete_always_true()*"]
    )  # fmt: skip
    properties = junit_properties(project.path / "junit.xml")
    seed_paths = {name: props["umi_seed"] for name, props in properties.items() if "umi_seed" in props}
    assert sorted(seed_paths) == [
        "umi-contract[umi_dst.selftest.mutants:delete_always_true-shard-1-of-1]",
        "umi-contract[umi_dst.selftest.mutants:get_returns_normalised-shard-1-of-1]",
    ]
    commands = {line.split()[4]: line.split()[2:] for line in result.outlines if line.startswith("replay it:")}
    assert sorted(commands) == sorted(seed_paths.values()), "each report shows the command replaying its own seed"
    capsys.readouterr()
    for path, command in commands.items():
        assert Path(path).parent.parent == project.path / "ci-seeds", "seeds go where --umi-seed-output says"
        seed = seeds.load(Path(path))
        assert command[:2] == ["umi-dst", "replay"] and cli.main(command[1:]) == 1, "the reported command reproduces"
        out = capsys.readouterr().out
        assert f"FAIL on {seed.backend} at " in out and f"{seed.failure['error']}: {seed.failure['message']}" in out


def test_contract_items_run_the_same_cases_whatever_the_number_of_workers(project):
    runs = {}
    for workers in ("0", "2"):
        xml = project.path / f"junit-{workers}.xml"
        project.runpytest(
            "--umi-backend", "sim", "--umi-shards", "4", "-n", workers, "--junitxml", str(xml)
        ).assert_outcomes(passed=4)
        runs[workers] = {name: props["umi_cases"] for name, props in junit_properties(xml).items()}
    assert len(runs["0"]) == 4 and runs["0"] == runs["2"]
    assert len(set(runs["0"].values())) == 4, "each shard runs its own cases"


def test_nightly_runs_rounds_with_fresh_seeds_until_the_time_budget_is_spent(project):
    xml = project.path / "junit.xml"
    args = (
        "--umi-backend",
        "sim",
        "--umi-shards",
        "1",
        "--junitxml",
        str(xml),
        "--umi-seed",
        "7",
        "--hypothesis-profile=tiny-nightly",
    )
    project.runpytest(*args).assert_outcomes(passed=1)
    (single,) = junit_properties(xml).values()
    result = project.runpytest(*args, "--umi-time-budget", "3")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*contract seed 7 (rerun with --umi-seed 7)*"])
    (budgeted,) = junit_properties(xml).values()
    assert int(budgeted["umi_cases"].split()[0]) > int(single["umi_cases"].split()[0])


def test_bad_settings_stop_the_run_naming_the_setting(project):
    result = project.runpytest("--umi-backend", "sim", "--umi-shards", "0")
    result.stderr.fnmatch_lines(["*umi_shards: must be at least 1, got 0*"])
    assert result.ret != 0
    too_wide = project.runpytest("--umi-backend", "sim", "--umi-dim", "1000000")
    too_wide.stderr.fnmatch_lines([f"*umi_dim: must be at most {MAX_DIM}, got 1000000*"])
    assert too_wide.ret != 0


def test_contract_tests_need_a_factory_seeds_can_name(project):
    project.makepyfile(
        test_unnamed="from umi_dst.contract_tests import ContractTests\n"
        "class TestLocal(ContractTests):\n"
        "    factory = lambda workdir, dim: None\n"
    )
    result = project.runpytest()
    result.stdout.fnmatch_lines(
        ["*TestLocal.factory*is not an attribute of an importable module, which is not allowed*"]
    )
    assert result.ret != 0


GET_NOT_BIT_EXACT = {
    "step": 1,
    "error": "ContractViolation",
    "message": "get('a'): not a bit-exact round trip; value 0 is 0.2, stored 0.3",
}


def test_contract_tests_collect_the_committed_seeds_of_their_backend(project):
    planted = "umi_dst.selftest.mutants:get_returns_normalised"
    steps = [Step(Store("a", Random(1))), Step(Get("a"))]
    for seed in (
        seeds.SeedFile(
            planted, 4, steps, GET_NOT_BIT_EXACT, {}, "get normalises", expect={planted: "fail", "sim": "pass"}
        ),
        seeds.SeedFile("sim", 4, seed_steps(), {"step": 1}, {}, "another backend's seed"),
    ):
        seeds.write(seed, project.path / "seeds")
    project.makepyfile(test_planted=PLANTED_CLASS)
    result = project.runpytest("test_planted.py", "-v", "-k", "seed")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*TestPlanted::seed?*.json?-fails-on?{planted}? PASSED*"])


def seed_steps():
    return [Step(Store("a", Random(1))), Step(Search(Random(2), 1))]


def test_seed_files_are_collected_and_checked_against_expectations(project):
    seeds_dir = project.path / "seeds"
    regression = seeds.SeedFile("sim", 4, seed_steps(), {"step": 1}, {}, "passes on the correct sim")
    recorded = {
        "step": 1,
        "error": "ContractViolation",
        "message": "search score of 'a' at rank 0 is 1.2, but its cosine similarity is -0.2 (tolerance 0.0001)",
    }
    case_study = seeds.SeedFile(
        "umi_dst.selftest.mutants:score_is_distance", 4, seed_steps(), recorded, {}, "distance reported as score",
        expect={"umi_dst.selftest.mutants:score_is_distance": "fail", "sim": "pass"},
    )  # fmt: skip
    wrong = seeds.SeedFile("umi_dst.selftest.mutants:score_rescaled", 4, seed_steps(), {"step": 1}, {}, "still broken")
    for seed in (regression, case_study, wrong):
        seeds.write(seed, seeds_dir)
    (seeds_dir / "notes.json").write_text('{"not": "a seed"}')
    result = project.runpytest("seeds")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*seed expected to pass on umi_dst.selftest.mutants:score_rescaled*", "*still broken*"]
    )


def test_malformed_seed_is_a_collection_error_naming_the_field(project):
    (project.path / "seeds").mkdir()
    (project.path / "seeds" / "bad.json").write_text('{"format": "umi-dst-seed", "version": 1, "backend": 5}')
    result = project.runpytest("seeds")
    result.stdout.fnmatch_lines(["*bad.json: field backend: expected str*"])
    assert result.ret != 0


def test_parallel_seeds_are_collected_with_their_expectations(project):
    """A delete of a missing id reported True fails on every run, so on each of the replays."""

    def parallel_seed(backend, expect, prefix_seed=1):
        return parallel_seeds.ParallelSeed(
            backend, 4, "threads", [Step(Store("a", Random(prefix_seed)))], [[Step(Delete("missing"))], [Step(Get("a"))]],
            {"message": "delete of a missing id returned True"}, {}, "delete reports success", expect,
        )  # fmt: skip

    mutant, locked = "umi_dst.selftest.mutants:delete_always_true", "umi_dst.selftest.concurrency_mutants:locked_sim"
    seeds.write(parallel_seed(mutant, {mutant: "fail", locked: "pass"}), project.path / "seeds")
    seeds.write(parallel_seed(mutant, {}, prefix_seed=2), project.path / "seeds")
    result = project.runpytest("seeds", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*parallel seed expected to pass on umi_dst.selftest.mutants:delete_always_true: FAIL * in 5 of 5 *"]
    )
