"""The upgrade machinery: a store written by one release, checked and written by the next."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

from umi_dst import registry
from umi_dst.contract import InvalidInput
from umi_dst.generation.machine import run_contract_machine
from umi_dst.seedfiles.replay import replay_file
from umi_dst.seedfiles.seeds import load
from umi_dst.upgrade import envs, protocol, spec

PLANTED = "umi_dst.selftest.segment_upgrade:drops_last_old_segment"
CORRECT = "umi_dst.selftest.segment_upgrade:reads_old_segments"


def test_upgrade_machine_catches_a_reader_that_drops_the_old_layouts_last_segment(tmp_path, ci_campaign):
    result = ci_campaign(PLANTED)
    assert not result.passed, "the planted upgrade bug was not caught within the ci budget"
    seed = load(result.seed_path)
    assert "after the upgrade" in seed.failure["message"], seed.failure["message"]
    assert seed.failure["step"] is None, "found at the upgrade, after the generated steps"
    replayed = replay_file(result.seed_path, workdir=tmp_path, allow_seed_backend=True)
    assert replayed.reproduced, replayed.summary()
    assert not replay_file(result.seed_path, backend=CORRECT, workdir=tmp_path).reproduced, "the correct reader passes"


def test_correct_upgrade_passes_the_machine(tmp_path, ci_settings):
    run_contract_machine(CORRECT, dim=8, workdir=tmp_path, settings=settings(ci_settings, max_examples=5))


def test_vectors_cross_the_protocol_bit_for_bit():
    special = np.array([0.1, -0.0, 1e-45, 3.4028235e38, np.nextafter(np.float32(1), np.float32(2))], np.float32)
    assert protocol.decode_vector(protocol.encode_vector(special)).tobytes() == special.tobytes()


@pytest.mark.parametrize(
    "requirement", ["lancedb", "lancedb>=0.30", "lancedb==0.30.2 --index-url x", "numpy==2.0.0", "lancedb @ file:///x"]
)
def test_only_an_exact_engine_release_is_installed(requirement):
    with pytest.raises(InvalidInput, match="exact release"):
        envs.check_requirement(requirement)
    assert not registry.is_registered(spec.upgrade_spec("lance", requirement))


def test_upgrade_specs_name_both_releases():
    assert registry.is_registered("lance from lancedb==0.30.2")
    assert registry.is_registered("lance-approx from lancedb==0.30.2")
    assert spec.parse("lance from lancedb==0.30.2") == ("lance", "lancedb==0.30.2")
    assert not registry.is_registered("postgres from lancedb==0.30.2"), "only upgradable backends"
    with pytest.raises(registry.UnknownBackend, match="exact release"):
        registry.resolve("lance from lancedb>=0")


def test_upgrade_command_refuses_a_range_and_a_missing_release(capsys):
    from umi_dst import cli

    assert cli.main(["upgrade", "--from", "lancedb>=0.30"]) == cli.EXIT_USAGE
    assert "exact release" in capsys.readouterr().err
    assert cli.main(["upgrade"]) == cli.EXIT_USAGE
    assert "--from" in capsys.readouterr().err


@pytest.mark.slow
def test_a_half_made_environment_is_never_reused(tmp_path, monkeypatch):
    """A build that fails (here: pip finds no such release) leaves nothing under the release's
    name, and ``--remove-envs`` deletes what a killed build left behind."""
    from umi_dst import cli

    monkeypatch.setenv(envs.CACHE_VARIABLE, str(tmp_path))
    killed_build = tmp_path / ".building-lancedb-0.30.2-x"
    (killed_build / "bin").mkdir(parents=True)
    with pytest.raises(envs.EnvironmentFailed, match="lancedb==0.0.1"):
        envs.ensure_env("lancedb==0.0.1")
    assert not envs.env_dir("lancedb==0.0.1").exists()
    assert [path.name for path in tmp_path.iterdir()] == [killed_build.name]
    assert cli.main(["upgrade", "--remove-envs"]) == cli.EXIT_OK
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_lance_written_by_an_older_release_reads_back_on_this_one(tmp_path, ci_settings):
    """One real pair end to end: the environment (cached after its first build) and the
    contract machine across the upgrade, with the older release's crash states."""
    run_contract_machine(
        "lance from lancedb==0.30.2", dim=8, workdir=tmp_path, settings=settings(ci_settings, max_examples=5)
    )


@pytest.mark.slow
def test_crash_states_written_by_an_older_release_read_back_on_this_one(tmp_path):
    """Writes of lancedb 0.30.2 killed after some of their file operations (every crash state
    checked on 0.30.2), continued from a state with uncommitted files, then read by this release."""
    from umi_dst.checking.crash_states import AFTER_OPS, CRASH
    from umi_dst.checking.harness import Harness
    from umi_dst.operations import Bulk, CrashPoint, Delete, Step, Store, StoreBatch
    from umi_dst.recipes import Random

    factory = registry.build("lance from lancedb==0.30.2", tmp_path, 8)
    harness = Harness(factory)
    try:
        for step in [
            Step(Store("a", Random(1))),
            Step(StoreBatch((("b", Random(2)),), Bulk(5, 40, 30))),
            Step(Store("c", Random(3)), CRASH, CrashPoint(AFTER_OPS, 2)),
            Step(Delete("a"), CRASH, CrashPoint(AFTER_OPS, 1)),
            Step(StoreBatch((("d", Random(4)),), Bulk(6, 20, 20)), CRASH, CrashPoint(AFTER_OPS, 3)),
        ]:
            harness.run(step)
        assert harness.crash_states_checked > 10, "the older release's file operations were recorded"
        harness.finish()
        assert factory.upgraded and factory.versions()["lancedb (written with)"] == "0.30.2"
    finally:
        harness.close()
        factory.destroy()


@pytest.mark.slow
def test_an_index_trained_by_an_older_release_is_searched_by_this_one(tmp_path):
    """lance-approx from lancedb 0.30.2: the older release builds the IVF_HNSW_SQ index once 8
    rows exist; this release finds it (builds none), searches through it, and recall is checked
    at the final checks (lance PR #3978: a crash reading an index trained by an old version)."""
    from umi_dst.checking.harness import Harness
    from umi_dst.operations import Search, Step, Store, StoreBatch
    from umi_dst.recipes import Random

    factory = registry.build("lance-approx from lancedb==0.30.2", tmp_path, 8)
    assert factory.approximate and factory.recall_floor == 0.9
    harness = Harness(factory)
    try:
        harness.run(Step(StoreBatch(tuple((f"r{i}", Random(i)) for i in range(40)))))
        harness.run(Step(Search(Random(100), 10)))
        harness.run(Step(Store("unindexed", Random(200))))
        indices = factory.old.store.table_dir() / "_indices"
        built = sorted(path.name for path in indices.iterdir())
        assert len(built) == 1, "the older release trained the index"
        harness.finish()
        assert factory.upgraded and factory.versions()["lancedb (written with)"] == "0.30.2"
        assert sorted(path.name for path in indices.iterdir()) == built, "this release built no index of its own"
        connection = factory.new.open()
        try:
            plan = connection.search_plan(np.ones(8, np.float32), 10)
        finally:
            connection.close()
        assert f"ANNIvfPartition: uuid={built[0]}" in plan, plan
    finally:
        harness.close()
        factory.destroy()


@pytest.mark.slow
def test_the_downgrade_probe_compares_every_answer_of_an_older_reader(tmp_path):
    """The probe behind reports/lance-downgrade.md: lancedb 0.36.0 reads a table this release
    wrote, index and deletion file included, exactly as this release does."""
    from umi_dst.studies.lance_downgrade import probe, write_report

    answers = probe("lancedb==0.36.0")
    assert answers == {"count": "same", "scan": "same", "search": "same"}
    text = write_report({"lancedb==0.36.0": answers}, "0.40.0", tmp_path).read_text()
    assert "| lancedb 0.40.0 | 0.36.0 | same | same | same |" in text
    with pytest.raises(InvalidInput, match="exact release"):
        probe("lancedb>=0.30")
