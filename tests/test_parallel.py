"""The parallel mode: planted concurrency bugs are caught, correct backends pass, and a
parallel failure becomes a seed that replays concurrently and says how often it came back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from umi_dst import registry
from umi_dst.cli import EXIT_FAILURE_FOUND, EXIT_OK, main
from umi_dst.concurrency.parallel import ParallelProgram, check_program, judge_recorded, replay_parallel, run_parallel
from umi_dst.operations import Count, Delete, Get, Step, Store
from umi_dst.recipes import Random
from umi_dst.seedfiles import parallel_seeds, seeds
from umi_dst.seedfiles.seeds import MalformedSeed
from umi_dst.selftest.concurrency_mutants import CONCURRENCY_MUTANTS

MUTANT = "umi_dst.selftest.concurrency_mutants:{}"
LOST_FIRST_WRITES = Path(__file__).parents[1] / "seeds" / "lance" / "parallel-281db046322c.json"
LOCKED_SIM = "umi_dst.selftest.concurrency_mutants:locked_sim"


def test_locked_sim_passes(tmp_path, ci_settings):
    result = run_parallel(LOCKED_SIM, dim=8, workdir=tmp_path, settings=ci_settings)
    assert result.passed, result.failure
    assert result.overlapping > result.runs, "clients must really run at the same time"


@pytest.mark.parametrize("mutant", sorted(CONCURRENCY_MUTANTS))
def test_planted_concurrency_bug_is_caught(mutant, tmp_path, ci_settings):
    """The planted stores' clients take turns (``umi_dst.concurrency.turns``), so whether a program shows
    the race is decided by the program, not by the machine's scheduling: one run a program."""
    found = settings(ci_settings, phases=[Phase.generate], max_examples=300)
    result = run_parallel(MUTANT.format(mutant), dim=8, workdir=tmp_path, settings=found)
    assert not result.passed, f"{mutant} was not caught within the ci budget"
    assert "is not linearizable" in result.failure and "cannot be ordered" in result.failure


def test_planted_bugs_pass_alone(tmp_path):
    """Each planted bug needs a second client: one client alone sees a correct store."""
    program = ParallelProgram(
        (Step(Store("a", Random(1))),),
        ((Step(Store("a", Random(2))), Step(Get("a")), Step(Count()), Step(Delete("a")), Step(Count())),),
    )
    for mutant in CONCURRENCY_MUTANTS:
        check_program(_factory(mutant, tmp_path), program)


def _factory(mutant: str, tmp_path):
    return registry.build(MUTANT.format(mutant), tmp_path, 8)


def test_failure_is_saved_as_a_parallel_seed(tmp_path, ci_settings):
    spec = MUTANT.format("read_modify_write_store")
    found = settings(ci_settings, phases=[Phase.generate], max_examples=300)
    result = run_parallel(spec, dim=8, workdir=tmp_path, settings=found, seeds_dir=tmp_path / "seeds")
    assert not result.passed and result.seed_path is not None
    seed = parallel_seeds.load(result.seed_path)
    assert seed.backend == spec and seed.clients_as == "threads" and len(seed.clients) >= 2
    program = ParallelProgram(tuple(seed.prefix), tuple(map(tuple, seed.clients)))
    assert program == result.program, "the seed keeps the prefix and every client's steps"
    assert "cannot be ordered" in seed.failure["message"]
    assert seed.versions["hypothesis"] and seed.versions["numpy"]
    assert str(judge_recorded(seed)) == seed.failure["message"], "the recorded run is judged again to the same verdict"
    data = json.loads(result.seed_path.read_text())
    data["history"]["calls"][0]["invoked"] = -1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(MalformedSeed, match=r"field history.calls\[0\].invoked: expected an integer from 0"):
        parallel_seeds.load(bad)


def test_replay_runs_a_race_again_and_counts_how_often_it_came_back(tmp_path):
    """A reader next to an upsert done as delete-then-insert: with the clients taking turns,
    the reader's get falls into the upsert's window on every run."""
    seed = parallel_seeds.ParallelSeed(
        backend=MUTANT.format("delete_then_insert_upsert"),
        dim=8,
        clients_as="threads",
        prefix=[Step(Store("a", Random(1)))],
        clients=[[Step(Store("a", Random(2)))], [Step(Get("a")), Step(Get("a")), Step(Get("a"))]],
        failure={},
        versions={},
    )
    replayed = replay_parallel(seed, runs=10, workdir=tmp_path)
    assert replayed.reproduced, replayed.summary()
    assert "in 10 of 10 concurrent runs" in replayed.summary()
    assert "get(id='a') -> None" in replayed.failures[0]
    assert not replay_parallel(seed, LOCKED_SIM, runs=5, workdir=tmp_path).reproduced


def _write_seed(tmp_path, backend: str) -> str:
    """A parallel seed whose failure needs no race: a delete of a missing id reported True."""
    seed = parallel_seeds.ParallelSeed(
        backend=backend,
        dim=4,
        clients_as="threads",
        prefix=[Step(Store("a", Random(1)))],
        clients=[[Step(Delete("missing"))], [Step(Get("a"))]],
        failure={"message": "delete of a missing id returned True"},
        versions=seeds.software_versions(),
        description="delete reports success for an id that was never stored",
    )
    return str(seeds.write(seed, tmp_path / "seeds"))


def test_cli_replays_a_parallel_seed_and_reports_how_often_it_failed(tmp_path, capsys):
    path = _write_seed(tmp_path, "umi_dst.selftest.mutants:delete_always_true")
    assert main(["replay", path, "--runs", "3", "--allow-seed-backend"]) == EXIT_FAILURE_FOUND
    out = capsys.readouterr().out
    assert "seed: delete reports success" in out and "in 3 of 3 concurrent runs" in out
    assert main(["replay", path, "--runs", "2", "--backend", LOCKED_SIM, "--quiet"]) == EXIT_OK
    assert (
        "PASS on umi_dst.selftest.concurrency_mutants:locked_sim: no failure in 2 concurrent runs"
        in capsys.readouterr().out
    )


def test_parallel_seed_round_trips_and_malformed_ones_name_the_field(tmp_path):
    path = _write_seed(tmp_path, LOCKED_SIM)
    seed = parallel_seeds.load(path)
    assert seed.clients == [[Step(Delete("missing"))], [Step(Get("a"))]]
    assert not seeds.is_seed_file(tmp_path / path), "the sequential seed collector leaves parallel seeds alone"
    data = json.loads(open(path).read())
    data["clients"][1][0]["id"] = 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(MalformedSeed, match=r"bad.json: field clients\[1\]\[0\].id"):
        parallel_seeds.load(bad)


def test_processes_need_a_factory_that_can_travel(tmp_path):
    program = ParallelProgram((), ((Step(Count()),), (Step(Count()),)))
    with pytest.raises(ValueError, match="run its clients as threads"):
        check_program(_factory("count_cached_across_commits", tmp_path), program, "processes")


@pytest.mark.parametrize(
    "backend, clients_as, examples",
    [("lance", "threads", 40), ("lance", "processes", 15), ("postgres", "threads", 40)],
)
def test_real_backend_is_linearizable(backend, clients_as, examples, tmp_path, ci_settings):
    """Each run costs real commits (and, for processes, a connection per client process), so
    the budget is the ci profile's with fewer examples."""
    budget = settings(ci_settings, max_examples=examples)
    result = run_parallel(backend, dim=8, workdir=tmp_path, settings=budget, clients_as=clients_as)
    assert result.passed, result.failure
    assert result.overlapping > result.runs, "clients must really run at the same time"


@pytest.mark.parametrize("backend", ["lance", "postgres", LOCKED_SIM])
def test_concurrent_first_writes_to_a_fresh_store_are_all_kept(backend, tmp_path):
    """Found by the parallel mode: four clients each store two new ids into a fresh store.
    Against Lance, every first write creates the table with its rows, and concurrent creations
    each commit an Overwrite, so acknowledged writes vanish (most runs lose some)."""
    seed = parallel_seeds.load(LOST_FIRST_WRITES)
    replayed = replay_parallel(seed, backend, runs=5, workdir=tmp_path)
    assert not replayed.reproduced, replayed.summary()


def test_the_first_writes_seed_holds_the_run_it_failed_with(tmp_path):
    """The seed's recorded run (of the code before the fix) is judged again to its failure,
    and that code still loses a first write: the seed's picture is a real race."""
    seed = parallel_seeds.load(LOST_FIRST_WRITES)
    assert seed.history is not None and len(seed.history.calls) == 17
    assert str(judge_recorded(seed)) == seed.failure["message"]
    replayed = replay_parallel(seed, "umi_dst.selftest.lost_first_writes:factory", runs=5, workdir=tmp_path)
    assert replayed.reproduced, replayed.summary()


def test_programs_are_drawn_without_the_literals_of_loaded_modules(tmp_path, ci_settings):
    """Hypothesis mixes literals of every loaded local module into its draws, so which modules
    a process had imported changed the programs one seed drew (a lazy import once hid a planted
    race from the ci budget this way). The parallel mode, like a campaign, draws without them."""
    from hypothesis.internal.conjecture import providers

    pools: list[int] = []

    def building(workdir, dim):
        pools.append(len(providers._get_local_constants()))
        return registry.build(LOCKED_SIM, workdir, dim)

    assert len(providers._get_local_constants()) > 0, "this process has loaded modules with literals"
    run_parallel(
        building, dim=8, workdir=tmp_path, settings=settings(ci_settings, phases=[Phase.generate], max_examples=3)
    )
    assert pools and set(pools) == {0}
