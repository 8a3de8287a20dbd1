"""The bench suite: a tiny run of every built-in backend writes a complete report.

Timings are not checked (the machine is shared); the structure is: every figure the report
promises is in the JSON, every section in the Markdown, every chart is a PNG, and two
reports compare figure by figure.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from umi_dst.bench import command, compare
from umi_dst.bench.data import clustered
from umi_dst.bench.filtered import SELECTIVITIES
from umi_dst.bench.truth import GroundTruth
from umi_dst.contract import SearchResult
from umi_dst.registry import CAMPAIGN_DEFAULTS
from umi_dst.studies import lance_compaction, lance_load

POINT_OPS = ("store", "update", "get", "exists", "exists_missing", "delete", "delete_missing", "count")
SECTIONS = (
    "## Summary at",
    "## Bulk load",
    "## Search",
    "## Point operations",
    "## Ratios to the raw engines",
    "## Against the original Rust plan",
    "## Engine state",
    "## Approximate search: recall against QPS",
    "## Filtered search",
    "## Framework overhead",
    "## Shrinking",
)


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory) -> tuple[dict, str, list, int]:
    """One tiny bench over every campaign backend (sizes 100 and 150 at dim 8)."""
    root = tmp_path_factory.mktemp("bench")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    backends = [arg for spec in CAMPAIGN_DEFAULTS for arg in ("--backend", spec)]
    args = parser.parse_args(
        [
            *backends,
            "--sizes",
            "100,150",
            "--dims",
            "8",
            "--queries",
            "4",
            "--singles",
            "3",
            "--framework-examples",
            "1",
            "--framework-steps",
            "4",
            "--shrink-examples",
            "1",
            "--out",
            str(root / "reports"),
            "--workdir",
            str(root / "work"),
            "--no-progress",
        ]
    )
    exit_code = command.main(args)
    outputs = sorted((root / "reports").iterdir())
    (json_path,) = [path for path in outputs if path.suffix == ".json"]
    (markdown_path,) = [path for path in outputs if path.suffix == ".md"]
    return json.loads(json_path.read_text()), markdown_path.read_text(), outputs, exit_code


def test_report_holds_every_figure_for_every_backend(tiny_report) -> None:
    report, _, _, exit_code = tiny_report
    assert [error["error"] for error in report["errors"]] == []
    assert exit_code == 0
    assert {"machine", "versions", "config", "memory_bandwidth_gib_s", "seconds"} <= set(report)
    assert [(case["n"], case["dim"]) for case in report["cases"]] == [(100, 8), (150, 8)]
    for case in report["cases"]:
        assert set(case["backends"]) == set(CAMPAIGN_DEFAULTS)
        for spec, figures in case["backends"].items():
            assert figures["load"]["per_s"] > 0
            assert set(figures["search"]) == {"limit_1", "limit_5", "limit_10", "limit_20"}
            assert all(set(figures[op]) >= {"p50_ms", "p99_ms", "per_s"} for op in POINT_OPS)
            assert 0 <= figures["recall_at_10"] <= 1
            assert figures["peak_rss_mib"] is not None and figures["disk_mib"] >= 0
            if not figures["approximate"]:
                assert figures["recall_at_10"] == 1.0, f"{spec} is exact but missed true neighbours"
        assert {"numpy", "lance", "postgres", "sim_scan_bound_ms"} <= set(case["baselines"])
        assert {"search_exact", "search_approx", "index_s"} <= set(case["baselines"]["postgres"])
        assert {"search_exact", "search_approx", "index_s"} <= set(case["baselines"]["lance"])
    lance = report["cases"][-1]["backends"]["lance"]
    # The backend's compaction policy keeps fragments below one per single write (3 stores and 3 updates).
    assert lance["engine"]["after_maintenance"]["fragments"] <= lance["engine"]["after_writes"]["fragments"] < 1 + 2 * 3
    assert {(curve["spec"], curve["knob"]) for curve in report["sweeps"]} == {
        ("lance-approx", "ef"),
        ("lance-approx", "refine_factor"),
        ("postgres-approx", "hnsw.ef_search"),
    }
    filtered_rows = report["filtered"]["rows"]
    assert (report["filtered"]["n"], report["filtered"]["dim"]) == (150, 8)
    assert [(row["spec"], row["selectivity_percent"]) for row in filtered_rows] == [
        (spec, percent) for spec in CAMPAIGN_DEFAULTS for percent in SELECTIVITIES
    ]
    for row in filtered_rows:
        assert row["short_answers"] == 0 and row["backend"]["per_s"] > 0, row
        assert (row["raw"] is None) == (row["spec"] == "sim"), "every engine backend runs beside its raw query"
        if not row["approximate"]:
            assert row["recall"] == 1.0 and row.get("raw_recall", 1.0) == 1.0, row
    assert report["framework"]["bare"]["steps"] > 0
    assert all(figures["steps"] > 0 for figures in report["framework"]["backends"].values())
    assert set(report["shrink"]) == {"lance-upstream", "postgres-upstream"}
    assert all(figures["examples"] >= 1 and figures["seconds"] > 0 for figures in report["shrink"].values())


def test_markdown_has_every_section_and_png_charts(tiny_report) -> None:
    report, markdown, outputs, _ = tiny_report
    assert all(section in markdown for section in SECTIONS)
    charts = [path for path in outputs if path.suffix == ".png"]
    assert {path.name for path in charts} == set(report["charts"].values())
    assert set(report["charts"]) == {"load", "search", "point_ops", "recall_qps"}
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({chart.name})" in markdown


def test_compare_lines_up_every_figure(tiny_report, tmp_path) -> None:
    report, _, outputs, _ = tiny_report
    (json_path,) = [path for path in outputs if path.suffix == ".json"]
    shared = compare.figures(report)
    assert "150x8/postgres/search/limit_10/p50_ms" in shared
    assert "150x8/raw/lance/load_per_s" in shared
    slower = json.loads(json_path.read_text())
    (case,) = [case for case in slower["cases"] if (case["n"], case["dim"]) == (150, 8)]
    case["backends"]["postgres"]["search"]["limit_10"]["p50_ms"] *= 2
    b_path = tmp_path / "b.json"
    b_path.write_text(json.dumps(slower))
    lines = compare.render(json_path, b_path).splitlines()
    rows = {
        line.split("|")[1].strip(): line.rsplit("|", 2)[1].strip()
        for line in lines
        if line.startswith("| ") and not line.startswith("| figure |")
    }
    assert len(rows) == len(shared)
    assert rows.pop("150x8/postgres/search/limit_10/p50_ms") == "2.00", "the changed figure shows its ratio"
    assert set(rows.values()) <= {"1.00", "-"}  # "-": A is 0, no ratio
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(compare.UnreadableReport, match="not a bench report"):
        compare.render(json_path, bad)


def test_render_rewrites_the_same_markdown_from_the_json(tiny_report, tmp_path) -> None:
    _, markdown, outputs, _ = tiny_report
    (json_path,) = [path for path in outputs if path.suffix == ".json"]
    copy = tmp_path / json_path.name
    copy.write_text(json_path.read_text())
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.main(parser.parse_args(["--render", str(copy)])) == 0
    assert copy.with_suffix(".md").read_text() == markdown
    reading = tmp_path / "reading.md"
    reading.write_text("Lance spends its time in commits.\n")
    assert command.main(parser.parse_args(["--render", str(copy), "--reading", str(reading)])) == 0
    assert "## Reading\n\nLance spends its time in commits." in copy.with_suffix(".md").read_text()
    assert json.loads(copy.read_text())["reading"] == reading.read_text()


def test_data_is_seeded_unit_norm_and_clustered() -> None:
    a, b = clustered(300, 16, queries=5, seed=7), clustered(300, 16, queries=5, seed=7)
    assert np.array_equal(a.vectors, b.vectors) and np.array_equal(a.queries, b.queries)
    assert np.allclose(np.linalg.norm(a.vectors, axis=1), 1, atol=1e-6)
    nearest = (a.vectors @ a.queries.T).max(axis=0)
    assert nearest.min() > 0.5, "queries should land near a cluster, not in empty space"


def test_recall_counts_a_tied_record_as_a_hit() -> None:
    dataset = clustered(20, 4, queries=1, seed=0)
    truth = GroundTruth.of(dataset, k=1)
    query = dataset.queries[0]
    best = truth.oracle.search(query, 1)[0]
    truth.oracle.store("twin", truth.oracle.get(best.id) * 2)  # same direction: exactly tied
    assert truth.recall(0, query, [SearchResult("twin", best.score)]) == 1.0
    worst = truth.oracle.search(-query, 1)[0]
    assert truth.recall(0, query, [SearchResult(worst.id, 0.0)]) == 0.0


def test_recall_counts_a_repeated_id_once() -> None:
    dataset = clustered(40, 4, queries=1, seed=0)
    truth = GroundTruth.of(dataset, k=10)
    best = truth.oracle.search(dataset.queries[0], 1)[0]
    assert truth.recall(0, dataset.queries[0], [best] * 10) == 0.1


def test_lance_load_runs_rotate_and_report_every_ratio(tmp_path) -> None:
    """All three loads really ran (the backend's count is checked inside), in rotating order."""
    rows = lance_load.run("lance", 50, 8, 3)
    assert [set(row) for row in rows] == [{"backend", "raw", "merge", "ratio", "merge_ratio"}] * 3
    assert [list(row)[:3] for row in rows] == [
        ["backend", "raw", "merge"],
        ["raw", "merge", "backend"],
        ["merge", "backend", "raw"],
    ]
    assert all(row["ratio"] == row["raw"] / row["backend"] > 0 for row in rows)
    assert all(row["merge_ratio"] == row["raw"] / row["merge"] > 0 for row in rows)
    markdown = lance_load.write_report(
        "lance", 50, 8, rows, {"cpu_model": "cpu", "logical_cpus": 2, "load_average": [1, 2, 3]}, tmp_path
    )
    assert "| 3 |" in markdown.read_text() and "of 3 runs" in markdown.read_text()
    assert json.loads((tmp_path / "lance-load.json").read_text())["rows"] == rows


def test_lance_compaction_policies_run_side_by_side_on_equal_records(tmp_path) -> None:
    """Every policy's store got the same steps (``run`` fails if their records differ) and a
    figure per part; the report has a row per policy."""
    workload = lance_compaction.Workload(writes=10, ids=3, dim=4, bulk=5)
    results = lance_compaction.run(workload, [2, 0])
    assert list(results) == ["every 2", "never"]
    assert all(
        figures["write_ms"] > 0 and figures["read_ms"] > 0 and figures["total_s"] > 0 for figures in results.values()
    )
    facts = {"cpu_model": "cpu", "logical_cpus": 2, "load_average": [1, 2, 3]}
    markdown = lance_compaction.write_report([(workload, results)], [2, 0], facts, tmp_path).read_text()
    assert "| every 2 |" in markdown and "| never |" in markdown
    assert json.loads((tmp_path / "lance-compaction.json").read_text())["results"][0]["policies"] == results
