"""The mutation-margins bench: its budgets match what the project runs, and its report counts."""

from __future__ import annotations

import json

import pytest

from umi_dst.campaign.shard import DEFAULT_CONFIG, DEFAULT_EXAMPLES, DEFAULT_STEPS
from umi_dst.selftest.mutants import MUTANTS
from umi_dst.studies import mutation_margins

STRONG = "umi_dst.selftest.mutants:delete_always_true"


def test_budgets_are_the_ci_tests_and_the_main_jobs(ci_settings):
    ci, main = mutation_margins.BUDGETS["ci"], mutation_margins.BUDGETS["main"]
    assert (ci.examples, ci.steps, ci.dim) == (ci_settings.max_examples, ci_settings.stateful_step_count, 8)
    assert [s.seed for s in ci.shards("sim", 5)] == [5], "the ci test's one shard runs under the seed itself"
    assert (main.examples, main.steps, main.dim, main.config) == (DEFAULT_EXAMPLES, DEFAULT_STEPS, None, DEFAULT_CONFIG)
    assert sum(s.examples for s in main.shards("sim", 0)) == DEFAULT_EXAMPLES


def test_every_planted_bug_is_searched_beside_its_correct_store():
    found = {p.spec: p for p in mutation_margins.planted(json_files=True)}
    assert all(f"umi_dst.selftest.mutants:{name}" in found for name in MUTANTS)
    assert found["sim"].correct and found["umi_dst.selftest.json_files:correct"].correct
    assert not any(p.family == "postgres_crash_mutants" for p in found.values()), "PostgreSQL only when asked"
    assert not any(p.family == "json_files" for p in mutation_margins.planted()), "JSON-file stores only when asked"


def test_report_counts_a_strong_mutant_and_the_correct_sim(tmp_path, capsys):
    argv = ["--budget", "ci", "--examples", "8", "--seeds", "2", "--workers", "1", "--backend", "sim",
            "--backend", STRONG, "--report-dir", str(tmp_path)]  # fmt: skip
    assert mutation_margins.main(argv) == 0
    result = json.loads((tmp_path / "mutation-margins.json").read_text())
    rows = {row["spec"]: row for row in result["rows"]}
    assert set(rows) == {"sim", STRONG} and all(row["budget"] == "ci" for row in rows.values())
    strong, sim = rows[STRONG], rows["sim"]
    assert len(strong["hits_per_seed"]) == 2 and strong["cases"] >= 16
    assert strong["failing"] == sum(strong["signatures"].values()) == sum(strong["hits_per_seed"]) > 0
    assert strong["hit_rate"] == pytest.approx(strong["failing"] / strong["cases"], abs=1e-4)
    assert all("delete returned" in signature for signature in strong["signatures"]), strong["signatures"]
    assert (sim["failing"], sim["verdict"], sim["signatures"]) == (0, "pass", {})
    text = (tmp_path / "mutation-margins.md").read_text()
    assert "How to read it" in text and "mutants:delete_always_true" in text and "## Budget `ci`" in text

    again = tmp_path / "again"
    assert mutation_margins.main([*argv[:-1], str(again), "--before", str(tmp_path / "mutation-margins.json")]) == 0
    rerun = json.loads((again / "mutation-margins.json").read_text())
    assert [r["hits_per_seed"] for r in rerun["rows"]] == [r["hits_per_seed"] for r in result["rows"]], (
        "margins depend on the seeds alone"
    )
    assert "margin before" in (again / "mutation-margins.md").read_text()


def test_a_backend_that_is_not_planted_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        mutation_margins.main(["--backend", "lance", "--report-dir", str(tmp_path)])
    assert exit.value.code == 2 and "not a planted backend of this bench: lance" in capsys.readouterr().err
